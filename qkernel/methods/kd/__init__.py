"""Classical → quantum knowledge distillation (Hasan & Mahdy, arXiv:2311.13810; REFERENCE A)."""

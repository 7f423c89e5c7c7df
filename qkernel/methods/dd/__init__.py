"""Dataset distillation for classical and quantum models (Phalak, Li & Ghosh, arXiv:2503.17935; REFERENCE B)."""

"""The distillation methods qdistill implements.

* :mod:`qkernel.methods.kd` — classical → quantum knowledge distillation (teacher, students, report);
* :mod:`qkernel.methods.dd` — dataset distillation: the method seam (methods are
  ``dd_method`` plugins), the evaluation protocol and the report.
"""

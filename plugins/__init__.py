"""qdistill's built-in plugins.

Each module registers through the ``qkernel`` entry-point group, exactly like a
third-party package would (see ``[project.entry-points.qkernel]`` in ``pyproject.toml``).
"""

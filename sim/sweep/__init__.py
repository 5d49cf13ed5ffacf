"""Sweeps: one scenario run over axes of parameters (``axes``), where the runs execute
(``executors``), and the tidy table they make (``runs``, ``metrics``) with its plots."""

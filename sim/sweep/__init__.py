"""Sweeps: one scenario run over axes of parameters (``axes``), where the runs execute
(``executors``), the tidy table they make (``runs``, ``metrics``), its plots and progress."""

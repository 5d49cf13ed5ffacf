"""Capacity planning: the closed forms for one token (``capacity``), their parameters read from
a scenario (``parameters``), a run's counterparts of them (``measures``), which apply and how
each is measured (``formulas``), how close a run must come to each (``tolerance``), the
engine's preflight set beside them (``preflight``), and ``pinsim plan``'s table of all of it
with a verdict a row (``table``)."""

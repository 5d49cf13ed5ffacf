"""Capacity planning: the closed forms for one token (``capacity``), their parameters read from
a scenario (``parameters``), a run's counterparts of them (``measures``), which apply and how
each is measured (``formulas``), and ``pinsim plan``'s table of both (``table``)."""

"""Capacity planning: the closed forms for one token (``capacity``) and ``pinsim plan``,
which sets them beside a simulated run (``table``)."""

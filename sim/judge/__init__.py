"""Judging a finished run: the invariants every run is held to (``checks``), the bounds a
scenario sets in ``[expect]`` (``expectations``), and how well the run used Pinterest's rate
limit (``pacing``)."""

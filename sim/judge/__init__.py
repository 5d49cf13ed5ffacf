"""Judging a finished run: the invariants and expectations it is held to (``checks``) and
how well it used Pinterest's rate limit (``pacing``)."""

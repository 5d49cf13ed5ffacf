"""Tests of sim.live: the wall-clock twin of a scenario."""

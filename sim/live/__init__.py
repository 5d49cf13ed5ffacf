"""The wall-clock twin of a scenario: its traffic and faults played in real time through the
live runtime (``sync_core.live``) against ``pinsim mock serve`` in its own process, written as
the same run outputs as ``pinsim run`` so that ``pinsim compare`` can set the two side by side.

This is the simulation's side of the live runtime: it reads a scenario and writes run outputs;
the worker, its store and its intake are ``sync_core.live``'s, used as they are.

- ``timebase``: scenario seconds ↔ wall seconds ↔ mock seconds at speed K, and the engine's
  ``SyncConfig`` scaled so that it behaves in scenario time on the wall clock.
- ``mock_process``: ``pinsim mock serve`` as a child process on loopback — its banner, its
  admin API, a reading of its clock.
- ``replay``: ``pinsim live replay SCENARIO [--speed K] [--out DIR]`` — the run itself.
"""

"""The simulation's own truth about who entered, independent of the engine's word.

- ``feed``: traffic cut into flush windows as the driver takes it, booked as it goes.
- ``ledger``: the book itself — who entered which step, and what each audience should hold.
- ``digests``: the compact set of hashed ids the ledger keeps.
"""

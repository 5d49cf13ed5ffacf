"""sim — the SimPy harness that runs sync_core against mock_pinterest in simulated time."""

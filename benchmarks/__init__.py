"""Speed and scale measurements of pinsim's parts (run as modules, not part of the test run)."""

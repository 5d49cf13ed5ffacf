"""Run every benchmark in turn: ``python -m benchmarks`` (``make bench``)."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = (
    "benchmarks.mock_patch",
    "benchmarks.engine",
    "benchmarks.book",
    "benchmarks.simulation",
    "benchmarks.sweep",
    "benchmarks.pacing",
    "benchmarks.intake",
    "benchmarks.live_load",
    "benchmarks.fuzz",
)

if __name__ == "__main__":
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        try:
            runpy.run_module(name, run_name="__main__")
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                sys.exit(exit_.code)

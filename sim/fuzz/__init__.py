"""``pinsim fuzz``: random fault schedules judged by every check, failures shrunk to scenario files.

The package, one concept a module:

- ``schedules``: from a fuzz seed and a schedule number, a short scenario document with random
  ``[[fault]]`` rows of every kind the format has (one generator per kind, in a table).
- ``trial``: one document simulated and judged by every check in memory (a crash is a failure).
- ``shrink``: delta debugging of a failing document's fault rows, then simplification of the
  rest, while the same check still fails.
- ``toml_text``: the TOML writer for documents (``tomllib`` reads back exactly what it wrote).
- ``campaign``: N schedules over an executor (``sim.sweep.executors``), in schedule order; each
  failure shrunk and written to ``<out>/failures/<n>-<check>.toml``.
- ``report``: the summary table and each failure file's header.

Rules:
- Deterministic from the fuzz seed: documents, verdicts, shrunk files; only wall-clock figures
  vary. A failure file is a plain scenario: ``pinsim check <file>`` reproduces the failure.
- The fuzzer drives the same code users do: documents are read by ``sim.scenario.from_raw``,
  runs are ``sim.world.driver.simulate``, verdicts ``sim.judge.checks.run_checks``.
"""

from sim.fuzz.campaign import Campaign, Found, fuzz
from sim.fuzz.report import failure_file, summary
from sim.fuzz.schedules import available_kinds, schedule
from sim.fuzz.shrink import ddmin, shrink
from sim.fuzz.toml_text import dumps
from sim.fuzz.trial import CRASH, Trial, judge

__all__ = [
    "CRASH",
    "Campaign",
    "Found",
    "Trial",
    "available_kinds",
    "ddmin",
    "dumps",
    "failure_file",
    "fuzz",
    "judge",
    "schedule",
    "shrink",
    "summary",
]

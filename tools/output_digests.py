"""Digests of every output file under run folders, wall-clock fields left out: the proof that a
change kept a simulation's outputs byte-identical.

Run: ``python -m tools.output_digests OUT_ROOT`` prints ``<md5>  <run>/<file>`` for every file
of every run folder below OUT_ROOT (as ``pinsim check scenarios --out OUT_ROOT`` writes them),
sorted. Run it on the outputs of the code before and after a change and ``diff`` the two.

Rules:
- Only what the wall clock decides is left out: ``wall_seconds`` in ``summary.json`` (the rest
  of it is hashed with its keys sorted) and the wall time ``report.html`` shows. Every other
  byte counts, plots included.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = ["digests"]

_REPORT_WALL_TIME = re.compile(rb"[0-9.]+ s wall clock")


def digests(root: Path) -> Iterator[tuple[str, str]]:
    """``(md5, "<run>/<file>")`` of every file of every run folder below ``root``, sorted."""
    for run in sorted(path for path in root.iterdir() if path.is_dir()):
        for file in sorted(path for path in run.iterdir() if path.is_file()):
            yield hashlib.md5(_content(file)).hexdigest(), f"{run.name}/{file.name}"


def _content(file: Path) -> bytes:
    data = file.read_bytes()
    if file.name == "summary.json":
        summary = json.loads(data)
        summary.pop("wall_seconds", None)
        return json.dumps(summary, sort_keys=True).encode()
    if file.suffix == ".html":
        return _REPORT_WALL_TIME.sub(b"wall clock", data)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of run folders")
    options = parser.parse_args(argv)
    if not options.root.is_dir():  # one line and exit 2, as argparse says a bad argument
        parser.error(f"{options.root}: no such folder")
    for digest, name in digests(options.root):
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()

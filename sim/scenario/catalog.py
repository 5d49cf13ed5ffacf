"""The shipped scenarios, found by name: ``pinsim run black_friday_blast`` as well as by path.

Rules:
- The shipped scenarios are the ``*.toml`` files of the project's ``scenarios/`` folder, found
  beside the package (so a name resolves from any working directory), or of ``./scenarios``
  when the package is installed without them. Paths are shown relative to the working
  directory when they are under it, as a user would type them.
- A name is a file's stem; shipped files are named as their scenario (a test holds them to it).
- ``locate`` answers a path when the text names an existing file, else the shipped scenario of
  that name, else None; ``close_names`` lists the shipped names nearest a miss, for the error.
"""

from __future__ import annotations

import difflib
from pathlib import Path

__all__ = ["close_names", "locate", "shipped", "shipped_dir"]

_BESIDE_THE_PACKAGE = Path(__file__).resolve().parents[2] / "scenarios"
_CLOSE = 3  # names offered after a miss


def shipped_dir() -> Path:
    """The folder of the shipped scenarios (relative to the working directory if under it)."""
    if not _BESIDE_THE_PACKAGE.is_dir():
        return Path("scenarios")
    cwd = Path.cwd()
    return (
        _BESIDE_THE_PACKAGE.relative_to(cwd)
        if _BESIDE_THE_PACKAGE.is_relative_to(cwd)
        else _BESIDE_THE_PACKAGE
    )


def shipped() -> dict[str, Path]:
    """Every shipped scenario's name and file, sorted by name."""
    return {path.stem: path for path in sorted(shipped_dir().glob("*.toml"))}


def locate(text: str) -> Path | None:
    """The file ``text`` names: an existing path, else a shipped scenario's name."""
    path = Path(text)
    if path.exists():
        return path
    return shipped().get(path.name.removesuffix(".toml")) if path.name == text else None


def close_names(text: str) -> list[str]:
    """The shipped names closest to ``text`` (a typo, a shortened name), best first."""
    names = list(shipped())
    stem = Path(text).name.removesuffix(".toml")
    starting = [name for name in names if name.startswith(stem) or stem in name]
    similar = difflib.get_close_matches(stem, names, n=_CLOSE, cutoff=0.5)
    return list(dict.fromkeys(similar + starting))[:_CLOSE]

"""Structured logs for the live runtime: one JSON object per line, with nothing secret in it.

Use ``event(log, "batch_sent", step="vip", records=1900)`` on any ``logging.Logger``, and
``with configured():`` around a command (it installs ``JsonLinesFormatter`` on the ``pinsim`` and
``sync_core`` loggers). A line reads
``{"at": 1767225600.25, "level": "info", "logger": "sync_core.live.worker",
"event": "batch_sent", "step": "vip", "records": 1900}``.

Rules:
- A field whose name says it is secret or identifies a person (``_REDACTED_KEYS``: tokens,
  secrets, passwords, authorization, API keys, cookies, emails, MAIDs, user ids) keeps its
  key and loses its value (``"[redacted]"``), at any depth of nested mappings and lists.
- Every other string — field values, the message, an exception's text — is scrubbed of what
  looks like an email address, a bearer/basic credential or a ``token=…``/``secret: …``/
  ``token '…'`` pair, so a secret passed under an innocent name or formatted into a message
  does not get out either. A bare token in free text, with none of those marks, cannot be
  recognised: never format one into a message.
- The formatter never raises: a value JSON cannot carry is written as its ``repr``, scrubbed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO

__all__ = ["JsonLinesFormatter", "configured", "event", "scrub"]

REDACTED = "[redacted]"
_REDACTED_KEYS = re.compile(
    r"token|secret|password|passwd|authorization|api_?key|cookie|email|maid|user_?id",
    re.IGNORECASE,
)
# what a secret or an identifier looks like inside free text
_IN_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # token=…, secret: …, token '…' (not "token refreshed": a separator or a quote is needed)
    (
        re.compile(
            r"(?i)\b(\w*(?:token|secret|password|api_?key))(\s*[=:]\s*|\s+(?=['\"]))(['\"]?)"
            r"[^\s'\",;)]+"
        ),
        r"\1\2\3" + REDACTED,
    ),
    (re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}"), "[email]"),
)
_FIELDS = "pinsim_fields"  # the LogRecord attribute ``event`` puts its fields under


def scrub(text: str) -> str:
    """``text`` without anything that looks like an email or a credential."""
    for pattern, replacement in _IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: object) -> object:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _REDACTED_KEYS.search(str(k)) else _clean(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item) for item in value]
    return scrub(repr(value))  # reprs of our types keep tokens out already; scrub anyway


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "at": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, Mapping):
            cleaned = _clean(fields)
            assert isinstance(cleaned, dict)
            line |= {k: v for k, v in cleaned.items() if k not in line}
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=lambda v: scrub(repr(v)), ensure_ascii=False)


def event(log: logging.Logger, name: str, /, level: int = logging.INFO, **fields: object) -> None:
    """Log ``name`` with ``fields``; secrets among them are redacted by the formatter."""
    if log.isEnabledFor(level):
        log.log(level, name, extra={_FIELDS: fields})


@contextmanager
def configured(
    stream: IO[str] | None = None,
    level: int = logging.INFO,
    loggers: tuple[str, ...] = ("pinsim", "sync_core"),
) -> Iterator[None]:
    """Send ``loggers`` to ``stream`` (default stderr) as JSON lines while the block runs.

    On leaving, the handler goes and each logger's level is restored: a command run inside a
    longer-lived process (a test, a notebook) leaves no handler writing to a stream that its
    caller may close.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLinesFormatter())
    chosen = [logging.getLogger(name) for name in loggers]
    previous = [logger.level for logger in chosen]
    for logger in chosen:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, was in zip(chosen, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(was)

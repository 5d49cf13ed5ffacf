"""The exception tree of sync_core, split by who is to blame.

Rules:
- ``UsageError`` means the caller misused the API (unknown step, time running backwards, a
  Canvas that cannot launch). It is raised *before* any state changes, so the engine stays
  usable after one.
- ``PeerError`` means Pinterest (or whatever answers the requests) misbehaved: a 2xx body that
  is not the JSON the spec promises. It never escapes ``SyncEngine.receive``: the engine
  converts it, at that one boundary, into a retryable server fault.
- Messages name the missing or wrong thing, never a token, a secret or a raw identifier.

Exception tree::

    SyncCoreError
    ├── UsageError
    │   └── LaunchError                 a Canvas step cannot launch
    │       ├── ConnectionNotUsable     unknown, invalid, or missing a required scope
    │       ├── NoAdAccount
    │       ├── AdAccountNotGranted
    │       ├── NoAudienceName
    │       └── NoMatchField            none selected, or one the engine does not know
    └── PeerError
"""

from __future__ import annotations


class SyncCoreError(Exception):
    """Base of every error sync_core raises."""


class UsageError(SyncCoreError):
    """The caller misused the engine's API; nothing was changed."""


class LaunchError(UsageError):
    """A Canvas step cannot launch; the message names the step and what is missing."""


class ConnectionNotUsable(LaunchError):
    """The step's connection is unknown, invalid, or lacks a required scope."""


class NoAdAccount(LaunchError):
    """The step names no ad account."""


class AdAccountNotGranted(LaunchError):
    """The step's ad account is not among those the connection was granted."""


class NoAudienceName(LaunchError):
    """The step names no audience (neither a new nor an existing one)."""


class NoMatchField(LaunchError):
    """The step selects no match field, or one that is not supported."""


class PeerError(SyncCoreError):
    """Pinterest answered with something the spec does not allow."""

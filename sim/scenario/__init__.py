"""Scenario files: TOML read with ``tomllib``, validated on load into a frozen dataclass tree.

The package, one concept a module (everything public is re-exported here):

- ``spec``: the frozen dataclass tree (``Scenario`` and its parts), its enums and every default.
- ``documents``: the ways in — ``load`` (a file), ``parse`` (text), ``default`` (the built-in
  ``default.toml``), ``from_raw`` (a parsed document) and ``override`` (one dotted key replaced).
- ``sections``: a parsed document made into a ``Scenario``, top-level table by table.
- ``kinds``: the ``[[traffic]]`` and ``[[fault]]`` rows, whose keys depend on their ``kind``.
- ``limits``: the range of every numeric value, the run's budget (users, flushes) and the
  name's rule (one safe output folder); docs/SCENARIOS.md "Limits" tables them.
- ``reader``: one table being read, the value converters and ``ScenarioError``.
- ``units``: duration and rate strings.
- ``catalog`` (the commands' own, not re-exported): the shipped scenarios, found by name
  (``pinsim run black_friday_blast``).

Rules:
- Loading either returns a fully valid ``Scenario`` or raises ``ScenarioError(file, key,
  reason)``; nothing downstream re-validates. ``key`` is dotted as a user would point at it
  (``traffic[2].rate``, ``expect.steps.vip-add.synced_min``).
- Unknown keys are errors (with a did-you-mean): a typo such as ``retry_windw`` must never fall
  back silently to a default and change what the run measures.
- Durations are unit strings turned into seconds (fields ending ``_s``), rates are unit strings
  turned into users per second (fields ending ``_per_s``); see ``sim.scenario.units``.
- Defaults make a minimal file valid: a steps-less file is a valid (empty) one-hour run. Each
  default is written once, in ``sim.scenario.spec``.
- Which keys a traffic row or a fault takes depends on its ``kind``: both are tables in
  ``sim.scenario.kinds``, not branches.

The ``[network]`` table describes the simulated network (``sim.world.network``): ``propagation`` and
``service`` (each ``{ median, p99 }`` or one duration for a constant), ``connections`` and
``paths`` (``per_connection`` or ``independent``). ``[pinterest] latency`` — the model before
it — is refused with what to write instead.

Expectations (``[expect]`` for totals over all steps, ``[expect.steps.<id>]`` for one step) are
bounds on the state at the end of the run unless said otherwise; every key is optional:

===================  =======================================================================
``errored``          the errored count equals this exactly
``errored_min``      errored count is at least this
``errored_max``      errored count is at most this
``synced_min``       synced count is at least this
``not_synced_min``   not-synced count is at least this
``not_synced_max``   not-synced count is at most this
``pending_max``      pending count at the end of the run is at most this
``lag_p99_max``      p99 of entry-to-synced lag over synced users is at most this duration
``drain_by``         from this instant on (sim time) every sample has pending == 0
``max_429_share``    share (0..1) of the run's customer-list writes answered 429 is at most
                     this (``sim.judge.pacing``); ``[expect]`` only
``min_utilisation``  the run's utilisation of the rate limit while users wait to be sent is
                     at least this share (``sim.judge.pacing``); fails when there was no backlog;
                     ``[expect]`` only
``records_sent_max`` records the customer-list writes carried, in the mock's journal, are at
                     most this (fewer than entered: coalescing); ``[expect]`` only
``unauthorized_max`` requests the mock's journal shows answered 401 are at most this (0: the
                     engine refreshed every token ahead of its expiry); ``[expect]`` only
===================  =======================================================================
"""

from sim.scenario.documents import default, from_raw, load, override, parse
from sim.scenario.reader import ScenarioError
from sim.scenario.spec import (
    SERVER_ERROR_STATUSES,
    AudienceSpec,
    ConnectionSpec,
    Expectations,
    ExpectBounds,
    FaultKind,
    FaultSpec,
    MissingShares,
    NetworkSpec,
    Pacer,
    PinterestSettings,
    RateLimiter,
    Refresh,
    Scenario,
    StepAction,
    StepSpec,
    SyncSettings,
    TrafficKind,
    TrafficSpec,
)

__all__ = [
    "SERVER_ERROR_STATUSES",
    "AudienceSpec",
    "ConnectionSpec",
    "ExpectBounds",
    "Expectations",
    "FaultKind",
    "FaultSpec",
    "MissingShares",
    "NetworkSpec",
    "Pacer",
    "PinterestSettings",
    "RateLimiter",
    "Refresh",
    "Scenario",
    "ScenarioError",
    "StepAction",
    "StepSpec",
    "SyncSettings",
    "TrafficKind",
    "TrafficSpec",
    "default",
    "from_raw",
    "load",
    "override",
    "parse",
]

"""The live runtime: the same ``SyncEngine`` on the wall clock, over real sockets.

The rest of ``sync_core`` is pure (no IO, no clock, no global random); this sub-package is the
second driver docs/ARCHITECTURE.md names — only the clock and the transport differ from the
simulation's. It decides nothing: every decision stays in the engine.

- ``entries``: what the Canvas side hands in (``Entry``) and its validation.
- ``store``: the durable store behind a small interface (``Store``): connections and tokens,
  steps, every accepted entry, every outcome and engine checkpoints; SQLite in WAL mode by
  default, sharded by connection later.
- ``intake``: the HTTP endpoint entries reach the worker through, durably before they are
  acknowledged.
- ``transport``: httpx over a keep-alive pool sized to the engine's in-flight limit.
- ``worker``: the wall-clock loop that feeds the engine from the store, carries its requests,
  checkpoints, and stops gracefully on SIGTERM/SIGINT.
- ``config``: what ``pinsim live run --config`` sets up (engine and worker settings, steps,
  mock-minted connections).
- ``connect``: connecting a Pinterest account through OAuth (authorize URL, a loopback redirect
  listener that checks ``state``, the code exchange).
- ``metrics``: the Prometheus endpoint.
- ``logs``: structured (JSON lines) logs with tokens, secrets and identifiers redacted.
- ``command``: ``pinsim live run`` — the worker with its intake and metrics endpoints.
"""

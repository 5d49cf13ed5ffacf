"""The simulated world the engine runs in, on the SimPy clock.

- ``driver``: the SimPy processes that play traffic into the real engine and its requests
  into the real mock.
- ``traffic`` and ``profiles``: Canvas entry traffic and the synthetic users it brings.
- ``network`` and ``pool``: where a request's time goes, and the client's keep-alive pool.
- ``pinterest``: the real ``mock_pinterest`` app, called in process, on the simulated clock.
"""

"""mock_pinterest — a faithful, stateful, fault-injecting mock of the Pinterest v5 API."""

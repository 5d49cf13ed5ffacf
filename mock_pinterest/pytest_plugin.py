"""pytest plugin (entry point ``pinterest_mock``): fixtures giving a test a mock Pinterest."""

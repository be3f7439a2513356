"""openresty-harness: integration tests for OpenResty / Lua services on real containers."""
__version__ = "0.1.0"

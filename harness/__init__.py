"""mailharness: conformance and load test harness for SMTP and POP3 servers."""

__version__ = "0.1.0"
__all__ = ["__version__"]

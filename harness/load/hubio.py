"""The hub backend's old home: it is ``harness.wire.hub`` now (kept for benchmarks/load_smtp_sink.py)."""

from __future__ import annotations

from harness.wire.hub import WATCHDOG_INTERVAL_S, HubStream, connect, watchdog

__all__ = ["WATCHDOG_INTERVAL_S", "HubStream", "connect", "watchdog"]

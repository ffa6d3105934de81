"""Locust ``LoadTestShape`` over the profile's stage table (loaded as a second locustfile).

Locust uses the first ``LoadTestShape`` it finds, so the shape lives in its own
file and ``harness.load.run`` adds it (``-f locustfile.py,locust_shape.py``)
only for headless runs; with ``--web`` the operator steers the users.
The stages come from ``shapes.compile_stages`` (pure, unit-tested).
"""

from __future__ import annotations

from locust import LoadTestShape

from harness.load.runtime import PROCESSES, PROFILE
from harness.load.shapes import compile_stages, tick


class ProfileShape(LoadTestShape):
    stages = compile_stages(PROFILE.shape, PROFILE.duration, PROCESSES)

    def tick(self):
        return tick(self.stages, self.get_run_time())

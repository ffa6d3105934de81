"""The Locust process's view of the run: the JSON config the CLI wrote (no locust import).

Both locustfiles (users and shape) import this module, so the config is read
once per process even though Locust loads the locustfiles by path.
"""

from __future__ import annotations

import json
import os
from typing import Any

from harness.load.profile import Profile, profile_from_json

__all__ = ["CONFIG", "ENV_VAR", "PROCESSES", "PROFILE", "TARGET"]

ENV_VAR = "MAILHARNESS_LOAD_CONFIG"

with open(os.environ[ENV_VAR], encoding="utf-8") as _fh:
    CONFIG: dict[str, Any] = json.load(_fh)
PROFILE: Profile = profile_from_json(CONFIG["profile"])
TARGET: dict[str, Any] = CONFIG["target"]
PROCESSES: int = int(CONFIG.get("processes", 1))

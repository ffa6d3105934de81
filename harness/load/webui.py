"""Locust web UI additions: a "Mail verdicts" tab and a JSON endpoint (master process only).

Our per-phase stats already appear in Locust's request table (they are
``events.request``). The tab adds the harness's own view: threshold verdicts,
delivery latency and lost/corrupted messages, from the merged HDR collector.
The same data is served as JSON at ``/mailharness/load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["TAB_KEY", "install"]

TAB_KEY = "mailharness"
_STRUCTURE = [{"key": "name", "title": "Check"}, {"key": "value", "title": "Value"},
              {"key": "limit", "title": "Limit"}, {"key": "verdict", "title": "Verdict"}]


def install(environment: Any, rows: Callable[[], list[dict[str, Any]]],
            section: Callable[[], dict[str, Any]]) -> None:
    from flask import Response, request

    web_ui = environment.web_ui
    web_ui.template_args["extended_tabs"] = [{"title": "Mail verdicts", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": _STRUCTURE}]

    @web_ui.app.after_request
    def _extend_stats(response: Any) -> Any:
        if request.path != "/stats/requests" or response.status_code != 200:
            return response
        data = json.loads(response.get_data())
        data["extended_stats"] = [{"key": TAB_KEY, "data": rows()}]
        response.set_data(json.dumps(data))
        return response

    @web_ui.app.route("/mailharness/load")
    def _load_json() -> Any:
        return Response(json.dumps(section(), default=str), mimetype="application/json")

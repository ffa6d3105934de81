"""Locust web UI additions (master process only): the "Mail verdicts" tab, its panel, a JSON endpoint.

Our per-phase stats already appear in Locust's request table (they are
``events.request``). Locust's header shows requests per second, which counts
every SMTP and POP3 command; what a mail operator wants is messages per
second. The tab adds the harness's own view:

* a table (Locust's ``extended_tables``, filled through ``extended_stats`` in
  ``/stats/requests``): the overall verdict line, messages/s next to the
  header's RPS, sessions/s, the thresholds with units, the round-trip figures
  ("not measured" when the profile does not verify);
* a panel above that table, served as an HTML fragment at
  ``/mailharness/panel``: the verdict line in colour, the mail rates, and two
  inline SVG charts from the per-second series (messages/s and sessions/s,
  p95 latency per interval), the same geometry as report.html
  (``harness.report.charts``). Locust's React page cannot be extended with
  components from Python, so a small script (added to ``/``) places the
  panel before our table when the tab is open, colours the verdict cells and
  refreshes the panel every 2 s. Everything in the fragment is escaped by
  Jinja2 (autoescape); the script inserts only that fragment.

The same data is served as JSON at ``/mailharness/load``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["PANEL_PATH", "SCRIPT", "TAB_KEY", "install", "panel_html"]

TAB_KEY = "mailharness"
PANEL_PATH = "/mailharness/panel"
_STRUCTURE = [{"key": "name", "title": "Check"}, {"key": "value", "title": "Value"},
              {"key": "limit", "title": "Limit / note"}, {"key": "verdict", "title": "Verdict"}]

# Colours of the verdict words; the same greens and reds as report.html.
SCRIPT = """<script>
(function () {
  var panel = document.createElement("div"), busy = false, last = 0;
  panel.id = "mailharness-panel";
  var COLOURS = {PASSED: "#1a7f37", FAILED: "#cf222e", RUNNING: "#9a6700", PENDING: "#9a6700"};
  function ourTable() {
    var ths = document.querySelectorAll("th");
    for (var i = 0; i < ths.length; i++) {
      if (ths[i].textContent === "Verdict") { return ths[i].closest("table"); }
    }
    return null;
  }
  function colour(table) {
    table.querySelectorAll("tbody tr").forEach(function (tr) {
      var cell = tr.lastElementChild, word = cell ? cell.textContent : "", c = COLOURS[word] || "";
      if (cell) { cell.style.color = c; cell.style.fontWeight = c ? "700" : ""; }
      if (tr.firstElementChild && tr.firstElementChild.textContent === "VERDICT") {
        tr.style.background = word === "FAILED" ? "rgba(207,34,46,.14)" :
          word === "PASSED" ? "rgba(26,127,55,.12)" : "rgba(154,103,0,.12)";
      }
    });
  }
  function tick() {
    var table = ourTable();
    if (!table) { if (panel.parentNode) { panel.parentNode.removeChild(panel); } return; }
    var box = table.parentElement;
    if (panel.nextSibling !== box) { box.parentNode.insertBefore(panel, box); }
    colour(table);
    if (!busy && Date.now() - last > 2000) {
      busy = true;
      fetch("./mailharness/panel").then(function (r) { return r.text(); })
        .then(function (html) { panel.innerHTML = html; last = Date.now(); })
        .catch(function () {}).then(function () { busy = false; });
    }
  }
  setInterval(tick, 500);
})();
</script>
"""

_PANEL = """
<style>
#mailharness-panel { margin: 0 0 12px; font-size: 14px; }
#mailharness-panel .mh-verdict { padding: 8px 12px; border-radius: 6px; font-weight: 700; color: #fff; }
#mailharness-panel .mh-PASSED { background: #1a7f37; } #mailharness-panel .mh-FAILED { background: #cf222e; }
#mailharness-panel .mh-RUNNING { background: #9a6700; }
#mailharness-panel .mh-stats { margin: 8px 2px; } #mailharness-panel .mh-stats b { font-size: 18px; }
#mailharness-panel .mh-note { opacity: .7; font-size: 12px; }
#mailharness-panel .mh-charts { display: flex; flex-wrap: wrap; gap: 0 24px; }
#mailharness-panel figure { margin: 6px 0; width: 560px; max-width: 100%; }
#mailharness-panel figcaption { font-weight: 600; }
#mailharness-panel svg.ch { width: 100%; height: auto; background: #fff; border-radius: 4px; }
#mailharness-panel svg.ch text { font-size: 11px; fill: #59636e; }
#mailharness-panel svg.ch .grid { stroke: #eaeef2; }
#mailharness-panel svg.ch polyline { fill: none; stroke-width: 2; }
#mailharness-panel .mh-legend span { margin-right: 12px; font-size: 12px; }
{% for cls, colour in colours %}
#mailharness-panel .sl-{{ cls }} { stroke: {{ colour }}; } #mailharness-panel .sr-{{ cls }} { fill: {{ colour }}; }
#mailharness-panel .sw-{{ cls }} { background: {{ colour }}; }
{% endfor %}
#mailharness-panel .mh-legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }
</style>
<div class="mh-verdict mh-{{ verdict }}" id="mh-verdict">{{ verdict }}: {{ sentence }}</div>
<div class="mh-stats">
  messages/s <b id="mh-messages-per-s">{{ messages_per_s }}</b> &middot; sessions/s <b>{{ sessions_per_s }}</b>
  &middot; messages sent <b>{{ sent }}</b> &middot; verified <b>{{ verified }}</b> &middot; {{ lost_label }} <b>{{ lost }}</b>
  <div class="mh-note">The header's RPS ({{ rps }}) counts every SMTP and POP3 command; messages/s counts messages
  the server accepted (one per DATA), sessions/s the connects.</div>
</div>
<div class="mh-charts">
{% for ch in charts %}
<figure><figcaption>{{ ch.title }}</figcaption>
<svg class="ch" viewBox="0 0 {{ '%.0f'|format(ch.width) }} {{ '%.0f'|format(ch.height) }}" role="img" aria-label="{{ ch.title }}">
{% for l in ch.lines %}<line class="{{ l.cls }}" x1="{{ '%.1f'|format(l.x1) }}" y1="{{ '%.1f'|format(l.y1) }}" x2="{{ '%.1f'|format(l.x2) }}" y2="{{ '%.1f'|format(l.y2) }}"/>{% endfor %}
{% for p in ch.polylines %}<polyline class="sl-{{ p.cls }}" points="{{ p.points }}"/>{% endfor %}
{% for x, y, cls in ch.dots %}<circle class="sr-{{ cls }}" cx="{{ '%.1f'|format(x) }}" cy="{{ '%.1f'|format(y) }}" r="3"/>{% endfor %}
{% for t in ch.texts %}<text x="{{ '%.1f'|format(t.x) }}" y="{{ '%.1f'|format(t.y) }}" text-anchor="{{ t.anchor if t.anchor in ('start', 'middle', 'end') else 'start' }}">{{ t.text }}</text>{% endfor %}
</svg>
<div class="mh-legend">{% for cls, label in ch.legend %}<span><i class="sw-{{ cls }}"></i>{{ label }}</span>{% endfor %}</div>
</figure>
{% else %}
<div class="mh-note">Charts appear once the swarm has run for a second or two.</div>
{% endfor %}
</div>
"""

_COLOURS = (("msgs", "#1a7f37"), ("sess", "#8250df"), ("verif", "#0969da"), ("p95", "#0969da"),
            ("p99", "#bf8700"), ("max", "#cf222e"), ("p50", "#54aeff"))


def panel_html(load: dict[str, Any]) -> str:
    """The panel above the tab's table (an HTML fragment, everything escaped)."""
    from jinja2 import Environment

    from harness.load.verdicts import NOT_MEASURED, value_text, verdict_line
    from harness.report.loadmodel import mail_series_charts

    verdict, sentence = verdict_line(load)
    rt = bool(load.get("roundtrip"))
    lost_key = "messages_pending" if "messages_pending" in load else "messages_lost"
    env = Environment(autoescape=True)
    return env.from_string(_PANEL).render(
        verdict=verdict, sentence=sentence, colours=_COLOURS,
        messages_per_s=value_text(load["messages_per_s"], ""), sessions_per_s=value_text(load.get("sessions_per_s"), ""),
        sent=load["messages_sent"], rps=value_text(round(sum(p["rps"] for p in load["phases"].values()), 1), "req/s"),
        verified=load.get("messages_verified") if rt else NOT_MEASURED,
        lost_label="pending" if lost_key == "messages_pending" else "lost",
        lost=load.get(lost_key) if rt else NOT_MEASURED,
        charts=mail_series_charts(load.get("series") or []))


def install(environment: Any, rows: Callable[[], list[dict[str, Any]]],
            section: Callable[[], dict[str, Any]]) -> None:
    from flask import Response, request

    web_ui = environment.web_ui
    web_ui.template_args["extended_tabs"] = [{"title": "Mail verdicts", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": _STRUCTURE}]

    @web_ui.app.after_request
    def _extend(response: Any) -> Any:
        if response.status_code != 200:
            return response
        if request.path == "/stats/requests":
            data = json.loads(response.get_data())
            data["extended_stats"] = [{"key": TAB_KEY, "data": rows()}]
            response.set_data(json.dumps(data))
        elif request.path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", SCRIPT + "</body>", 1))
        return response

    @web_ui.app.route("/mailharness/load")
    def _load_json() -> Any:
        return Response(json.dumps(section(), default=str), mimetype="application/json")

    @web_ui.app.route(PANEL_PATH)
    def _panel() -> Any:
        return Response(panel_html(section()), mimetype="text/html")

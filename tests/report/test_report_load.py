"""The load section: built from the `load` key, tolerant of missing and malformed values."""

from __future__ import annotations

import re

import pytest

from harness.report import build_report, render_html
from harness.report.charts import nice_max
from harness.report.loadmodel import build_load
from report_samples import load_results, make_load, make_run
from test_report_html import _check


def test_load_report_shows_phases_thresholds_and_charts():
    html = render_html(load_results())
    _check(html)
    section = html[html.index('id="load"'):html.index('id="about"')]
    for text in ("Thresholds", "messages lost == 0", "DATA p95 &lt; 500 ms", "Phases", "RETR",
                 "Latency percentiles per phase", "Latency over time", "Throughput, users and failures over time",
                 "Delivery latency (SMTP accepted → visible in POP3)", "Delivery latency distribution"):
        assert text in section, text
    assert section.count("<svg") >= 5 and "<polyline" in section
    assert '<tr class="t-failed"><td>messages lost == 0</td>' in section
    assert '<div class="tile bad"><div class="v">2</div><div class="k">lost</div></div>' in section
    assert "No checks were run." not in html


def test_crossed_threshold_fails_the_gate_with_the_reason():
    report = build_report(load_results())
    assert not report.gate_passed
    assert report.gate_reasons == ("load threshold messages lost == 0: 2 (limit 0)",)
    assert build_report(load_results(crossed=False)).gate_passed


def test_merge_conformance_and_load():
    report = build_report([make_run(), load_results()], labels=["conf.json", "load.json"])
    assert len(report.checks) == 7 and report.load is not None
    assert [r.kind for r in report.runs] == ["conformance", "load"]
    assert len(report.gate_reasons) == 3           # the failed check, the unjudged one and the threshold
    html = render_html([make_run(), load_results()], labels=["conf.json", "load.json"])
    assert html.index('id="failures"') < html.index('id="load"') < html.index('id="checks"')
    assert "merged: conf.json (conformance), load.json (load)" in html


@pytest.mark.parametrize("load", [
    {},
    {"phases": None, "thresholds": "x", "delivery_latency_ms": [], "series": 5},
    {"phases": {"A": {"p50": "fast", "p95": None, "requests": "many"}, "B": 3},
     "thresholds": [{"verdict": None}, 7, {"name": "<b>x</b>", "value": float("nan"), "verdict": True}],
     "series": {"A": [{"t": "x"}, {"t": 1, "p95": 2}], "B": "nope"},
     "delivery_latency_ms": {"p95": float("inf"), "histogram": {"100": 3, "x": "y"}}},
])
def test_tolerates_missing_and_malformed_keys(load):
    data = {"tool": "mailharness", "checks": [], "load": load}
    html = render_html(data)
    _check(html)
    assert "<b>x</b>" not in html


def test_series_as_mapping_per_phase():
    load = make_load()
    rows = load.pop("series")
    load["time_series"] = {"MAIL": rows, "DATA": rows[:1]}
    view = build_load(load)
    titles = [c.title for c in view.charts]
    assert "Latency over time: MAIL" in titles and "Latency over time: DATA" in titles
    single = next(c for c in view.charts if c.title == "Latency over time: DATA")
    assert single.dots and not single.polylines      # one point: a dot, not a line


def test_chart_geometry_stays_inside_the_viewbox():
    for chart in build_load(make_load(scale=3.7)).charts:
        for r in chart.rects:
            assert 0 <= r.x and r.x + r.w <= chart.width + 0.01 and 0 <= r.y <= chart.height
        for p in chart.polylines:
            for pt in p.points.split():
                x, y = map(float, pt.split(","))
                assert 0 <= x <= chart.width and 0 <= y <= chart.height
            assert re.fullmatch(r"[0-9., ]+", p.points)


def test_nice_max():
    assert [nice_max(v) for v in (0, 0.7, 1, 3, 4100, 99)] == [1.0, 1.0, 1, 5, 5000, 100]

"""The load report and the web panel for mail: units, "not measured", series, form defaults (no Locust run)."""

from __future__ import annotations

import re

from harness.load.profile import Profile, Shape, Thresholds, UserMix
from harness.load.run import form_defaults
from harness.load.stats import Collector, Series
from harness.load.verdicts import load_section, value_text, verdict_line, verdict_rows
from harness.load.webui import panel_html
from harness.report import render_html
from harness.report.loadmodel import build_load

TARGET = {"smtp": {"host": "127.0.0.1", "port": 2525, "tls": "none"},
          "pop3": {"host": "127.0.0.1", "port": 1110, "tls": "none"}}


def _profile(verify: bool = False, **shape) -> Profile:
    users = (UserMix(kind="smtp"),) + ((UserMix(kind="pop3", fixed_count=1),) if verify else ())
    return Profile(name="p", source="p.yaml", duration=10.0, users=users, shape=Shape(**shape), verify=verify,
                   thresholds=Thresholds(failure_ratio=0.01, min_messages_per_s=5, max_lost_messages=0,
                                         phases=(("SMTP DATA", "p95", 0.25),)))


def _collector(t0: float = 1_700_000_000.0, seconds: int = 6) -> Collector:
    c = Collector()
    for i in range(seconds):
        t = t0 + i + 0.5
        c.record_many("SMTP connect", [100] * 10, t=t)
        c.record_many("SMTP DATA", [2000 + 100 * k for k in range(10)], t=t)
        c.record("SMTP MAIL", 1500, "451 try later" if i == 2 else None, t=t)
        c.series.sample_users(int(t), 4)
    c.count("messages_sent", 10 * seconds)
    c.merge_own()
    return c


def _load(verify: bool = False) -> dict:
    c = _collector()
    if verify:
        c.ledger.add_sent("m1", 1_700_000_000.2, "d")
        c.ledger.add_seen("m1", 1_700_000_001.2, "d")
    return load_section(_profile(verify), c, 6.0)


def test_series_rows_give_rates_and_per_interval_percentiles() -> None:
    rows = _load()["series"]
    assert [r["t"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert all(r["messages_per_s"] == 10 and r["sessions_per_s"] == 10 and r["users"] == 4 for r in rows)
    assert rows[2]["failures"] == 1 and rows[2]["rps"] == 21
    assert rows[0]["latency"]["SMTP DATA"] == {"p50": 2.4, "p95": 2.9, "p99": 2.9}
    assert "verified_per_s" not in rows[0]


def test_series_interval_grows_for_long_runs_and_merges_across_processes() -> None:
    a, b = Series(), Series()
    for sec in range(1000):
        a.record(sec, "SMTP DATA", [1000])
        b.record(sec, "SMTP DATA", [3000])
    a.merge(b.to_json())
    rows = a.rows()
    assert len(rows) <= 120 and rows[0]["interval_s"] == 10 and rows[0]["messages_per_s"] == 2
    assert rows[0]["latency"]["SMTP DATA"]["p50"] == 1.0 and rows[0]["latency"]["SMTP DATA"]["p99"] == 3.0
    assert a.rows(until=5, interval=1)[-1]["t"] == 5.0


def test_a_profile_without_verify_reports_null_not_zero() -> None:
    load = _load()
    assert (load["messages_verified"], load["messages_lost"], load["delivery_latency_ms"]) == (None, None, None)
    assert all("lost" not in t["name"] for t in load["thresholds"])
    html = render_html({"tool": "mailharness", "checks": [], "load": load})
    section = html[html.index('id="load"'):]
    assert '<div class="tile na"><div class="v">not measured</div><div class="k">verified</div>' in section
    assert '<div class="tile na"><div class="v">not measured</div><div class="k">lost</div>' in section
    assert not re.search(r'<div class="v">0</div><div class="k">(verified|lost)</div>', section)
    rows = {r["name"]: r["value"] for r in verdict_rows(load)}
    assert rows["messages verified / lost"].startswith("not measured")


def test_a_verifying_profile_shows_its_counts() -> None:
    load = _load(verify=True)
    assert load["messages_verified"] == 1 and load["series"][1]["verified_per_s"] == 1
    html = render_html({"tool": "mailharness", "checks": [], "load": load})
    assert '<div class="tile"><div class="v">1</div><div class="k">verified</div>' in html
    assert "not measured" not in html[html.index('id="load"'):]


def test_every_threshold_value_has_its_unit() -> None:
    load = _load(verify=True)
    by_name = {t.name: t for t in build_load(load).thresholds}
    assert by_name["SMTP DATA p95"].limit_text == "250 ms" and by_name["SMTP DATA p95"].value_text.endswith(" ms")
    assert by_name["failure ratio"].limit_text == "1 %"
    assert by_name["failure ratio"].value_text == f"{load['failure_ratio'] * 100:.3f}".rstrip("0").rstrip(".") + " %"
    assert by_name["messages/s (minimum)"].limit_text == "5 msgs/s"
    assert by_name["lost messages"].value_text == "0 messages"
    for t in build_load(load).thresholds:
        assert re.search(r" (ms|%|msgs/s|messages|sessions)$", t.value_text), t
        assert re.search(r" (ms|%|msgs/s|messages|sessions)$", t.limit_text), t
    html = render_html({"tool": "mailharness", "checks": [], "load": load})
    assert '<td>failure ratio</td><td class="num">' in html and '<td class="num">1 %</td>' in html


def test_a_phase_that_never_ran_is_not_measured() -> None:
    load = load_section(_profile(), Collector(), 1.0)
    row = next(t for t in load["thresholds"] if t["name"] == "SMTP DATA p95")
    assert row["value"] is None and value_text(row["value"], row["unit"]) == "not measured"
    assert next(t for t in build_load(load).thresholds if t.name == "SMTP DATA p95").value_text == "not measured"


def test_report_charts_over_time() -> None:
    titles = [c.title for c in build_load(_load(verify=True)).charts]
    assert "Messages and sessions per second over time" in titles and "p95 latency per interval" in titles
    chart = next(c for c in build_load(_load(verify=True)).charts if c.title.startswith("Messages"))
    assert [label for _, label in chart.legend] == ["messages/s", "sessions/s", "verified/s"]


def test_verdict_line() -> None:
    load = _load()
    assert verdict_line(load)[0] == "PASSED"
    load["thresholds"][0]["verdict"] = "failed"
    assert verdict_line(load) == ("FAILED", f"1 of {len(load['thresholds'])} thresholds crossed: "
                                            f"{load['thresholds'][0]['name']}")
    live = load_section(_profile(verify=True), _collector(), 6.0, final=False)
    assert verdict_line(live)[0] == "RUNNING"       # lost messages are pending while running
    rows = verdict_rows(live)
    assert rows[0]["name"] == "VERDICT" and rows[1]["name"] == "messages/s" and "RPS" in rows[1]["limit"]


def test_panel_is_escaped_and_has_the_charts() -> None:
    load = _load()
    load["thresholds"][0]["name"] = "<script>x</script>"
    load["thresholds"][0]["verdict"] = "failed"
    html = panel_html(load)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'class="mh-verdict mh-FAILED"' in html and 'id="mh-messages-per-s">10<' in html
    assert html.count("<svg") == 2 and "not measured" in html


def test_form_defaults_follow_the_shape() -> None:
    assert form_defaults(_profile(users=30, ramp=10.0), TARGET) == (30, 3.0, "smtp://127.0.0.1:2525")
    assert form_defaults(_profile(True, kind="step", users=20, steps=4), TARGET) == \
        (20, 5.0, "smtp://127.0.0.1:2525 pop3://127.0.0.1:1110")
    assert form_defaults(_profile(kind="spike", base_users=2, spike_users=40, at=1.0, length=2.0), TARGET)[0] == 40

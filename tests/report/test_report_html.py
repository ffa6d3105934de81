from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report import load_json, render_html, write_html, write_json
from harness.results import CheckResult, Level, RunResult, Status
from report_samples import make_run

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictChecker(HTMLParser):
    """html.parser never raises, so check nesting and stray markup ourselves."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}>, open: {self.stack}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def unknown_decl(self, data):
        self.errors.append(f"unknown declaration {data!r}")


def _check(html: str) -> StrictChecker:
    parser = StrictChecker()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


def _page(run, tmp_path) -> str:
    path = tmp_path / "x" / "report.html"
    write_html(run, path)
    return path.read_bytes().decode("utf-8")


def test_hostile_text_is_escaped(run, tmp_path):
    html = _page(run, tmp_path)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.lower().count("<script") == 1 and "<script>(function () {" in html     # only our own
    assert "{{ 7*7 }}" in html and ">49<" not in html
    assert "\x1b" not in html and "\x00" not in html and "\ufffe" not in html
    assert "\\x1b[31mRED\\x00" in html  # shown, as an escape


def test_hostile_text_in_banner_and_ids(tmp_path):
    data = make_run().to_json()
    evil = "<script>alert(1)</script>{{7*7}}\x1b]8;;http://x\x07link\x1b]8;;\x07\u202e"
    data["started"] = evil
    data["target"] = {"name": evil}
    data["checks"][1]["id"] = evil          # a gated failure: its id is in the verdict banner
    data["checks"][1]["transcript"][0]["text"] = evil
    html = render_html(data)
    banner = html[html.index('<header class="banner'):html.index("</header>")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}\\x1b]8;;http://x\\x07link" in banner
    assert html.lower().count("<script") == 1 and "\x1b" not in html and "\x07" not in html
    assert "\u202e" not in html and "\\u202e" in html
    _check(html)


def test_invalid_utf8_from_the_wire_is_shown_escaped(tmp_path):
    # A reply with bytes that are not UTF-8 reaches results.json as surrogate escapes.
    data = make_run().to_json()
    data["checks"][1]["transcript"][-1]["text"] = b"550 caf\xe9 \xff\xfe\r\n".decode("utf-8", "surrogateescape")
    path = tmp_path / "r.html"
    write_html(data, path)
    html = path.read_bytes().decode("utf-8")       # strict: the file is valid UTF-8
    assert "550 caf\\udce9 \\udcff\\udcfe" in html


def test_self_contained_with_hash_locked_csp(run, tmp_path):
    html = _page(run, tmp_path)
    assert "http://" not in html and "https://" not in html
    assert '<meta charset="utf-8">' in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert csp.startswith("default-src 'none'; style-src 'sha256-")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert html.count("<style>") == 1
    # one inline script, allowed by its hash only; nothing external can load or run
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and html.count("<script") == 1
    assert "fetch(" not in script and "XMLHttpRequest" not in script and "innerHTML" not in script
    parser = _check(html)
    for tag, attrs in parser.tags:
        assert tag != "script" or not attrs                   # no src=, no attributes at all
        assert tag not in {"link", "img", "iframe", "object", "embed", "base", "form"}
        assert not any(k.startswith("on") for k in attrs)
        assert "style" not in attrs
        assert all(v.startswith("#") for k, v in attrs.items() if k in {"href", "src"})


def test_banner_says_why_the_gate_failed(run, tmp_path):
    html = _page(run, tmp_path)
    banner = html[html.index('<header class="banner'):html.index("</header>")]
    assert 'class="banner g-failed"' in banner and "Gate failed" in banner
    # failed and could-not-be-judged are told apart, and every id is a link to its card
    assert '1 check at MUST failed: <a href="#c-1">smtp.rcpt-before-mail</a>' in banner
    assert '1 check at MUST could not be judged (error): <a href="#c-3">smtp.data-timeout</a>' in banner
    assert "<b>7</b> checks" in banner and "<b>3</b> failed" in banner
    assert "<b>1</b> could not be judged (error)" in banner
    assert "<b>2</b> not gated" in banner and "<b>1</b> known deviations" in banner
    assert "host=127.0.0.1, port=2525, tls=none" in html and "password=***" in html


def test_passing_banner(tmp_path):
    data = make_run().to_json()
    for c in data["checks"]:
        c["gated"] = False
    data["summary"]["gate"] = "passed"
    html = render_html(data)
    assert 'class="banner g-passed"' in html and "Gate passed" in html
    assert "No failure at the gated levels (MUST, SECURITY); 4 other failures reported only" in html


def test_failure_cards_first_gated_first(run, tmp_path):
    html = _page(run, tmp_path)
    assert html.index('id="failures"') < html.index('id="summary"') < html.index('id="checks"')
    cards = re.findall(r'<details class="card [^"]*" id="c-(\d+)"', html)
    # by severity (all MUST, then SHOULD), gated first within a level
    assert cards == ["1", "3", "5", "2"]
    card = html[html.index('id="c-1"'):html.index('id="c-3"')]
    assert "Out-of-order commands must be refused as a bad sequence." in card       # the rule
    assert "expected code 503, got 550" in card and "expected class 5xx sequence error" in card
    assert "Reply that broke it" in card and "550 &lt;script&gt;" in card
    assert 'class="s k"' in card                                                     # marked in the transcript
    assert "EHLO client.test" in card and "0.002" in card                           # with timing
    assert 'class="tx-box">' in card                                                 # transcripts start closed
    assert 'id="c-1" open>' in card                                                  # the first cards are open
    assert "not gated: level SHOULD is not gated" in html
    assert "not gated: known deviation for this target" in html


def test_all_checks_list_in_priority_order_with_filters(run, tmp_path):
    html = _page(run, tmp_path)
    rows = re.findall(r'<details class="chk ([^"]*)" id="row-(\d+)">', html)
    assert [r[1] for r in rows] == ["1", "3", "2", "5", "4", "0", "6"]
    assert rows[0][0] == "s-failed l-must u-0" and rows[4][0] == "s-skipped l-may u-1"
    assert rows[6][0] == "s-passed l-must u-2"
    for fid in ("fs-all", "fs-problems", "fs-failed", "fs-passed", "fl-must", "fl-may", "fu-0", "fu-2"):
        assert f'id="{fid}"' in html and f'<label for="{fid}">' in html
    assert "#fu-2:checked ~ .chks .chk:not(.u-2)" in html
    assert "RETR 1" in html                          # passed checks keep their transcript


def test_rfc_matrix(run, tmp_path):
    html = _page(run, tmp_path)
    matrix = html[html.index('id="matrix"'):html.index('id="checks"')]
    assert matrix.index(">1939 <") < matrix.index(">2195 <") < matrix.index(">5321 <")
    assert matrix.index("§3.5.3") < matrix.index("§4.1.4") < matrix.index("§4.5.3.2")
    assert '<a class="mchip s-failed" href="#row-1">smtp.rcpt-before-mail</a>' in matrix


def test_passwords_masked_in_transcripts():
    data = make_run().to_json()
    data["checks"][0]["transcript"] = [
        {"conn": "pop3", "dir": "C", "t": 0.1, "text": "PASS hunter2\\r\\n"},
        {"conn": "pop3", "dir": "C", "t": 0.2, "text": "AUTH PLAIN AGFsaWNlAGh1bnRlcjI=\\r\\n"},
        {"conn": "pop3", "dir": "C", "t": 0.3, "text": "PASS ****\\r\\n"}]
    html = render_html(data)
    assert "hunter2" not in html and "AGFsaWNlAGh1bnRlcjI" not in html
    assert html.count("PASS ****") == 2 and "AUTH PLAIN ****" in html


def test_pcap_links_are_relative_and_safe():
    data = make_run().to_json()
    data["checks"][1]["pcap"] = "pcaps/smtp.rcpt-before-mail.pcap"
    data["checks"][3]["pcap"] = "javascript:alert(1)"
    data["checks"][2]["pcap"] = "https://evil.example/x.pcap"
    html = render_html(data)
    assert '<a href="pcaps/smtp.rcpt-before-mail.pcap" download>' in html
    assert "javascript:" not in html and "evil.example" not in html


def test_long_transcripts_are_bounded():
    data = make_run().to_json()
    data["checks"][0]["transcript"] = [{"conn": "smtp", "dir": "C", "t": i / 1000, "text": f"NOOP {i}\\r\\n"}
                                       for i in range(5000)]
    data["checks"][1]["transcript"].append({"conn": "smtp", "dir": "S", "t": 1.0, "text": "x" * 200_000})
    html = render_html(data)
    assert "4600 transcript entries not shown" in html
    assert "134464 more characters in results.json" in html
    assert len(html) < 600_000


def test_from_stored_json_equals_from_run(run, tmp_path):
    write_json(run, tmp_path / "results.json")
    assert render_html(load_json(tmp_path / "results.json")) == render_html(run)


def test_empty_run_renders(tmp_path):
    html = _page(RunResult("0.1.0", "t", {}, []), tmp_path)
    _check(html)
    assert "No checks were run." in html and "g-passed" in html


@settings(max_examples=80)
@given(text=st.text(), status=st.sampled_from(list(Status)))
def test_any_text_never_becomes_markup(text, status):
    payload = f"{text}<blink onclick=x>{text}</blink>"
    run = RunResult("0.1.0", payload, {payload: payload}, [CheckResult(
        id=payload, title=payload, suite=payload, level=Level.SHOULD, rfc=(payload,), status=status,
        message=payload, error_class=payload, failures=[payload], findings=[payload], source=payload,
        rationale=payload, transcript=[{"conn": payload, "dir": payload, "t": 1.0, "text": payload,
                                        "note": payload}])])
    html = render_html(run)
    parser = _check(html)
    assert "blink" not in {tag for tag, _ in parser.tags}
    assert "\x00" not in html


def _causes_run() -> RunResult:
    down = "preflight: SMTP 127.0.0.1:25: greeting: no complete reply within 10 s"
    checks = [CheckResult(id=f"smtp.c{i}", title="t", suite="smtp-core", level=Level.MUST, rfc=("5321",),
                          status=Status.ERROR, error_class="timeout", message=down, gated=True) for i in range(5)]
    checks += [CheckResult(id=f"security.smuggling-{i}", title="t", suite="security", level=Level.SECURITY,
                           rfc=("5321#2.3.8",), status=Status.SKIPPED, message="the target has no pop3 section")
               for i in range(3)]
    checks.append(CheckResult(id="smtp.one", title="t", suite="smtp-core", level=Level.MUST, rfc=("5321",),
                              status=Status.FAILED, message="expected 503, got 250", gated=True))
    preflight = {"endpoints": [{"service": "smtp", "address": "127.0.0.1:25", "ok": False, "usable": False,
                                "error": "greeting: no complete reply within 10 s", "error_class": "timeout"}],
                 "logins": [], "delivery": None, "duration_s": 10.0}
    return RunResult(tool_version="0", started="2026-12-07T00:00:00+00:00", target={}, checks=checks,
                     preflight=preflight)


def test_causes_lead_the_report(tmp_path):
    html = _page(_causes_run(), tmp_path)
    text = " ".join(_check(html).text)
    causes = html.index('id="causes"')
    assert causes < html.index('id="failures"')
    assert "preflight: SMTP 127.0.0.1:25: FAILED (timeout): greeting: no complete reply within 10 s" in text
    assert "5 checks could not be judged (timeout): preflight: SMTP 127.0.0.1:25" in text
    # the banner names the shared cause too
    assert html.index("5 checks could not be judged") < causes
    # skips grouped by reason, and security checks that did not run called out
    assert re.search(r"<td class=\"num\">3</td><td>the target has no pop3 section</td>", html)
    assert "3 SECURITY checks did not run" in text
    # a failure with a cause of its own is not grouped
    assert "1 check failed" not in text and "smtp.one" in text

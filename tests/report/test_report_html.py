from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report import load_json, render_html, write_html, write_json
from harness.results import CheckResult, Level, RunResult, Status

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
    assert "<script" not in html.lower()
    assert "{{ 7*7 }}" in html
    assert "\x1b" not in html and "\x00" not in html and "\ufffe" not in html
    assert "\\x1b[31mRED\\x00" in html  # shown, as an escape


def test_self_contained(run, tmp_path):
    html = _page(run, tmp_path)
    assert "http://" not in html and "https://" not in html
    assert '<meta charset="utf-8">' in html
    assert "default-src 'none'" in html
    parser = _check(html)
    for tag, attrs in parser.tags:
        assert tag not in {"script", "link", "img", "iframe", "object"}
        assert not any(k.startswith("on") for k in attrs)
        assert all(v.startswith("#") for k, v in attrs.items() if k in {"href", "src"})


def test_header_summary_and_gate(run, tmp_path):
    html = _page(run, tmp_path)
    assert "0.1.0" in html and "2025-01-02T03:04:05Z" in html
    assert "host=127.0.0.1, port=2525, tls=none" in html
    assert "password=***" in html
    assert 'class="gate gate-failed"' in html
    assert "failed 3" in html and "errors 1" in html and "skipped 1" in html and "passed 2" in html


def test_table_sorted_failed_and_error_first(run, tmp_path):
    html = _page(run, tmp_path)
    tbody = html[html.index("<tbody>"):html.index("</tbody>")]
    order = re.findall(r"<code>([^<]+)</code>", tbody)
    assert order == ["smtp.rcpt-before-mail", "smtp.data-timeout", "smtp.vrfy-252", "smtp.expn-known",
                     "smtp.auth-cram-md5", "smtp.greeting", "pop3.roundtrip"]
    for status in ("v-failed", "v-error", "v-skipped", "v-passed", "v-failed-not-gated"):
        assert f'class="{status}"' in tbody
    assert "5000.0 ms" in tbody and "RCPT before MAIL is refused" in tbody


def test_details_only_for_failed_and_error(run, tmp_path):
    html = _page(run, tmp_path)
    ids = re.findall(r'<details id="check-(\d+)"', html)
    assert sorted(ids) == ["1", "2", "3", "5"]
    assert html.count("<details") == 4
    assert '<details id="check-1" open>' in html          # gated: open by default
    assert '<details id="check-2">' in html               # not gated: collapsed
    assert "expected code 503, got 550" in html
    assert "C: EHLO client.test\\r\\n" in html
    assert "  # first divergence" in html


def test_passed_transcripts_not_detailed(run, tmp_path):
    html = _page(run, tmp_path)
    after_table = html.split("</table>", 1)[1]
    assert "RETR 1" not in after_table


def test_from_stored_json_equals_from_run(run, tmp_path):
    write_json(run, tmp_path / "results.json")
    assert render_html(load_json(tmp_path / "results.json")) == render_html(run)


def test_empty_run_renders(tmp_path):
    html = _page(RunResult("0.1.0", "t", {}, []), tmp_path)
    _check(html)
    assert "No checks were run." in html and "gate-passed" in html


@settings(max_examples=80)
@given(text=st.text(), status=st.sampled_from(list(Status)))
def test_any_text_never_becomes_markup(text, status):
    payload = f"{text}<b onclick=x>{text}</b>"
    run = RunResult("0.1.0", payload, {payload: payload}, [CheckResult(
        id=payload, title=payload, suite=payload, level=Level.SHOULD, rfc=(payload,), status=status,
        message=payload, error_class=payload, failures=[payload], findings=[payload], source=payload,
        rationale=payload, transcript=[{"conn": payload, "dir": payload, "t": 1.0, "text": payload,
                                        "note": payload}])])
    html = render_html(run)
    parser = _check(html)
    assert "b" not in {tag for tag, _ in parser.tags}
    assert "\x00" not in html

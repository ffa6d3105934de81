"""Every card names what it judged; "the reply that broke it" never blames an unrelated reply; repeats fold."""

from __future__ import annotations

from harness.report import build_report, render_report as render_html

MARK = "mh-0123abcd-0123456789ab"


def _t(conn: str, d: str, text: str = "", note: str = "") -> dict:
    return {"conn": conn, "dir": d, "t": 0.0, "text": text, "note": note}


def _smuggling(failure: str) -> dict:
    smtp = [_t("smtp", "S", "220 mx ESMTP\\r\\n"), _t("smtp", "C", "DATA\\r\\n"), _t("smtp", "S", "354 go\\r\\n"),
            _t("smtp", "C", f"X-Harness-Id: {MARK}-outer\\r\\n...", note='smuggling probe, fake end "\\n.\\n"'),
            _t("smtp", "S", "250 2.0.0 queued as 1\\r\\n"), _t("smtp", "S", "250 2.1.0 OK\\r\\n")]
    pop = [_t("pop3", "C", "RETR 1\\r\\n"),
           _t("pop3", "S", f"+OK 400 octets\\r\\nX-Harness-Id: {MARK}-outer\\nbody\\n.\\r\\n"),
           _t("pop3", "C", "RETR 2\\r\\n"),
           _t("pop3", "S", f"+OK 300 octets\\r\\nX-Harness-Id: {MARK}-smuggled\\r\\n.\\r\\n"),
           _t("pop3", "C", "QUIT\\r\\n"), _t("pop3", "S", "+OK signing off (1 messages left)\\r\\n")]
    return {"tool": "mailharness", "checks": [{
        "id": "security.smuggling-lf-dot-lf", "level": "SECURITY", "status": "failed", "gated": True,
        "message": "scenarios/security.yaml:23: " + failure, "failures": [failure], "transcript": smtp + pop}]}


def test_a_bare_lf_violation_in_the_outer_message_is_not_blamed_on_quit():
    check = build_report(_smuggling("RETR 1: MUST bare-lf (RFC 1939#3, server): line ended by a bare LF")).checks[0]
    broke = check.broke_line
    assert broke is not None and broke.text.startswith("+OK 400 octets")          # the RETR 1 reply
    assert "signing off" not in broke.text
    said = " ".join(check.judged)
    assert 'Fake end "\\n.\\n": honoured' in said and "250 2.1.0 OK to the smuggled MAIL FROM" in said
    assert "Smuggled message: not looked for" in said


def test_a_delivered_smuggled_message_is_named_with_its_proof():
    failure = f"message 'smuggled' ({MARK}-smuggled) was delivered to bob but must not be"
    report = build_report(_smuggling(failure))
    check = report.checks[0]
    assert check.broke_line is not None and f"{MARK}-smuggled" in check.broke_line.text    # the RETR 2 reply
    assert "Smuggled message: delivered to bob (RETR 2" in " ".join(check.judged)
    html = render_html(report)
    assert "What it judged" in html and "Smuggled message: delivered to bob" in html


def test_a_plain_reply_verdict_names_the_command_it_answered():
    data = {"tool": "mailharness", "checks": [{
        "id": "smtp.x", "level": "MUST", "status": "failed", "gated": True,
        "failures": ["expected code 503, got 250 (reply: '250 2.1.5 OK')"],
        "transcript": [_t("smtp", "C", "RCPT TO:<a@b>\\r\\n"), _t("smtp", "S", "250 2.1.5 OK\\r\\n"),
                       _t("smtp", "C", "QUIT\\r\\n"), _t("smtp", "S", "221 bye\\r\\n")]}]}
    check = build_report(data).checks[0]
    assert check.judged == ("The reply to RCPT TO:<a@b>: 250 2.1.5 OK",)
    # a failure that quotes no reply does not blame the answer to QUIT either
    data["checks"][0]["failures"] = ["expected the server to stay in the transaction"]
    assert build_report(data).checks[0].broke_line.text == "250 2.1.5 OK\\r\\n"


def test_a_repeated_poll_is_folded_once_with_its_count():
    poll = [_t("pop3", "*", note="connect 127.0.0.1:110"), _t("pop3", "C", "STAT\\r\\n"),
            _t("pop3", "S", "+OK 0 0\\r\\n"), _t("pop3", "C", "QUIT\\r\\n"), _t("pop3", "S", "+OK bye\\r\\n")]
    data = {"tool": "mailharness", "checks": [{
        "id": "roundtrip.x", "level": "MUST", "status": "failed", "gated": True,
        "failures": ["message 'm' (mh-0123abcd-0123456789ab-m) not in alice's mailbox after 10 s"],
        "transcript": poll * 14}]}
    report = build_report(data)
    check = report.checks[0]
    assert len(check.transcript) == 6 and check.transcript[-1].repeat == 14
    assert check.judged == ("The mailbox: message 'm' was not in alice's mailbox within 10 s.",)
    assert check.broke_line is None                   # a missing message is not one reply's fault
    assert "×14" in render_html(report)


def test_a_reply_to_the_message_data_is_named_so():
    data = {"tool": "mailharness", "checks": [{
        "id": "smtp.y", "level": "MUST", "status": "failed", "gated": True,
        "failures": ["expected code 250, got 550 (reply: '550 no')"],
        "transcript": [_t("smtp", "C", "DATA\\r\\n"), _t("smtp", "S", "354 go\\r\\n"),
                       _t("smtp", "C", "Subject: x\\r\\n\\r\\nbody\\r\\n.\\r\\n"), _t("smtp", "S", "550 no\\r\\n")]}]}
    assert build_report(data).checks[0].judged == ("The reply to the message data (the end of DATA): 550 no",)

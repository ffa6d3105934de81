"""The RFC audit of the bundled checks (issue 11, part 1) stays true.

- every check quotes the RFC sentence that binds the server (``quote:``), except the ones still
  listed in ``tests/rfc_audit_pending.txt``, a list that may only shrink;
- a MUST/SHOULD/MAY check's quote carries that keyword;
- the sentence and its section are the rule id: no rule id at two levels.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from harness.scenario.loader import load_paths

ROOT = Path(__file__).resolve().parents[1]
CHECKS = [c for f in load_paths([ROOT / "scenarios"]) for c in f.checks]
PENDING_FILE = ROOT / "tests" / "rfc_audit_pending.txt"
PENDING = {line.split("#")[0].strip() for line in PENDING_FILE.read_text().splitlines()} - {""}

KEYWORDS = {
    "MUST": r"\b(?:MUST|SHALL|REQUIRED)\b",
    "SHOULD": r"\b(?:SHOULD|RECOMMENDED)\b",
    "MAY": r"\b(?:MAY|OPTIONAL)\b",
}


def test_every_check_quotes_its_rule_or_is_pending():
    missing = sorted(c.id for c in CHECKS if c.quote is None and c.id not in PENDING)
    assert not missing, f"checks without a quote: (add quote: or, at worst, list them as pending) {missing}"


def test_the_pending_list_only_shrinks():
    ids = {c.id for c in CHECKS}
    stale = sorted(PENDING - ids)
    assert not stale, f"pending ids that are no check (remove them): {stale}"
    done = sorted(c.id for c in CHECKS if c.quote is not None and c.id in PENDING)
    assert not done, f"these checks are quoted now, remove them from {PENDING_FILE.name}: {done}"


# Rules (section and the start of the sentence) that state the server's only conforming behaviour
# without an RFC 2119 keyword, with the level the audit gave them and why. Keep this short; prefer a
# sentence with a keyword. RFC 1939 (pre-RFC 2119) describes most server behaviour in the indicative.
KEYWORDLESS = {
    # "it will return code 555": the section's only reply; §4.3.2 lists 555 for MAIL and RCPT, and for MAIL
    # §4.1.4 makes the 501 for an unacceptable argument a MUST, so the checks accept 555 or 501.
    ("5321#4.1.1.11", "If the server SMTP does not recognize"): "MUST",
    # Definitions of what a command does; no other behaviour conforms.
    ("5321#4.1.1.1", "These commands, and a \"250 OK\" reply"): "MUST",   # HELO/EHLO leave no transaction
    ("5321#4.1.1.1", "The SMTP server identifies itself"): "MUST",
    ("5321#4.1.1.4", "This processing consumes the information"): "MUST",
    ("5321#4.1.1.9", "This command does not affect any parameters"): "MUST",
    ("5321#4.3.1", "Normally, a receiver will send a 220"): "MUST",        # 554 is the only other (§3.1)
    ("5321#2.4", "Verbs and argument values"): "MUST",
    ("5321#2.4", "Mailbox domains follow normal DNS rules"): "MUST",
    ("1939#3", "Commands in the POP3 consist of a case-insensitive keyword"): "MUST",
    ("1939#3", "If any line of the multi-line response begins"): "MUST",
    ("1939#3", "Responses may be up to 512 characters"): "SHOULD",     # a limit worded with "may"
    ("1939#4", "The first message in the maildrop is assigned"): "MUST",
    ("1939#5", "Any future reference to the message-number"): "MUST",
    ("1939#5", "Note that messages marked as deleted are not counted"): "MUST",
    ("1939#5", "If any messages have been marked as deleted"): "MUST",
    ("1939#6", "In no case may the server remove"): "MUST",          # "in no case may" forbids
    ("1939#6", "The POP3 server removes all messages marked"): "MUST",
    ("1939#7", "After the initial +OK, the POP3 server sends the headers"): "MUST",
    ("1939#7", "Note that if the number of lines requested"): "MUST",
    ("1939#7", "Note that messages marked as deleted are not listed."): "MUST",
    ("1939#7", "When the POP3 server receives the APOP command"): "MUST",
    ("2449#5", "The POP3 CAPA command returns a list"): "MUST",
    ("2449#5", "The capability list is terminated"): "MUST",
    # Extensions that define their only conforming reply or syntax in the indicative.
    ("1870#3", "one optional parameter is allowed with this EHLO keyword"): "MUST",   # size-param ::= [1*DIGIT]
    ("1870#4", "If a numeric parameter follows the SIZE keyword"): "MUST",  # "will be rejected with ... (552)"
    ("6152#3", "If the server SMTP responds with code 250"): "MUST",         # 8BITMIME announces BODY=
    ("3207#4", "After the client gives the STARTTLS command"): "MUST",       # the only three replies
    ("4954#4", "Should the client successfully complete the exchange"): "MUST",          # 235, nothing else
    ("4954#4", "If the requested authentication mechanism is invalid"): "MUST",          # 504, nothing else
    ("4954#4", "This indicates that the response is present"): "MUST",      # "=" is not an omitted response
    ("5034#4", "Should the client successfully complete the exchange"): "MUST",          # +OK and TRANSACTION
    ("5034#4", "If the requested authentication mechanism is not supported"): "MUST",    # -ERR, nothing else
    # RFC 3463 (2003, after RFC 2119) writes its recommendations in lower case.
    ("3463#2", "Mail system specific status codes should be mapped"): "SHOULD",
    # The lock is described, not required by keyword ("should" there is about access, not the lock), and
    # "as necessary" leaves the means to the server; Dovecot does not lock by default.
    ("1939#4", "Once the POP3 server has determined through the use of any"): "SHOULD",
    # A capability defined by what the server then does: advertising it is the promise.
    ("3206#6", "The AUTH-RESP-CODE capability indicates"): "MUST",
    # Grammar: a size that is no 1*DIGIT is no BDAT command; reading it as a number desynchronises the
    # data stream (RFC 5321 §4.2.2 gives 501 for a syntax error in an argument).
    ("3030#2", "bdat-cmd ::="): "MUST",
}


def _keywordless_level(quote):
    return next((lv for (sec, start), lv in KEYWORDLESS.items()
                 if quote[0] == sec and quote[1].startswith(start)), None)


def test_level_is_the_keyword_of_the_quote():
    wrong = []
    for c in CHECKS:
        if c.quote is None or c.level.value not in KEYWORDS:
            continue
        if _keywordless_level(c.quote) == c.level.value:
            continue
        rfc = int(c.quote[0].split("#")[0])
        flags = re.IGNORECASE if rfc < 2119 else 0     # older RFCs write the keywords in lower case
        if not re.search(KEYWORDS[c.level.value], c.quote[1], flags):
            wrong.append(f"{c.source} {c.id}: level {c.level.value}, but the quote has no such keyword")
    assert not wrong, "\n".join(wrong)


def test_security_and_policy_say_why():
    bare = [c.id for c in CHECKS if c.level.value in ("SECURITY", "POLICY") and not c.rationale.strip()]
    assert not bare, f"SECURITY/POLICY checks must say why in rationale: {bare}"


def test_quoted_section_is_among_the_checks_references():
    stray = [c.id for c in CHECKS if c.quote is not None and c.quote[0] not in c.rfc]
    assert not stray, f"the quoted section must also be listed in rfc: {stray}"


def test_no_rule_at_two_levels():
    levels: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, list[str]] = defaultdict(list)
    for c in CHECKS:
        if c.rule_id:
            levels[c.rule_id].add(c.level.value)
            owners[c.rule_id].append(f"{c.id} ({c.level.value})")
    split = {rule: owners[rule] for rule, lv in levels.items() if len(lv) > 1}
    assert not split, f"one rule, several levels: {split}"


def test_trace_field_names_are_matched_case_insensitively():
    """RFC 5322 §1.2.2: header field names are case-insensitive (``Return-path:`` is ``Return-Path:``)."""
    import re as _re
    loose = []
    for c in CHECKS:
        for step in c.steps:
            if step.action != "retrieve":
                continue
            for pattern in list(step.value.get("matches", ())) + list(step.value.get("not_matches", ())):
                for name in ("Received", "Return-Path", "X-Harness-Id"):
                    for m in _re.finditer(_re.escape(name) + ":", pattern):
                        before = pattern[:m.start()]
                        if not (pattern.startswith("(?i)") or before.endswith("(?i:")):
                            loose.append(f"{c.id}: {name} in /{pattern}/")
    assert not loose, loose

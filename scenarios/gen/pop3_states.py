"""Generate scenarios/pop3-states.yaml: the POP3 state x command matrix.

Every command of ``harness.protocol.pop3_states.ALLOWED`` is tried in every
state it is not valid in (it must get -ERR and leave the state unchanged),
and the commands valid in both states are tried in each (+OK).

    python scenarios/gen/pop3_states.py          # rewrite the YAML
    python scenarios/gen/pop3_states.py --check  # exit 1 if the YAML is stale

tests/test_generated_scenarios.py proves the committed YAML equals this output.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.protocol.pop3_states import ALLOWED, Pop3State  # noqa: E402

OUT = ROOT / "scenarios" / "pop3-states.yaml"
A, T = Pop3State.AUTHORIZATION, Pop3State.TRANSACTION

# The RFC sentences the cells enforce (quote:, see docs/scenario-format.md "The quote").
WRONG_STATE = ("1939#3", "A server MUST respond to a command issued when the session is in an incorrect state by "
               "responding with a negative status indicator.")
MINIMAL = ("1939#7", "The POP3 commands discussed above must be supported by all minimal implementations of POP3 servers.")
CAPA_STATES = ("2449#5", "The POP3 CAPA command returns a list of capabilities supported by the POP3 server. It is "
               "available in both the AUTHORIZATION and TRANSACTION states.")

# Not generated: UTF8 (RFC 6856) needs the UTF8 capability, which the reference
# server does not implement yet, so the check could not be proven there.
NOT_GENERATED = frozenset({"UTF8"})

# TRANSACTION-only commands sent in AUTHORIZATION (after USER, before PASS: the
# state a server that opens the maildrop too early gets wrong).
# form id suffix -> (command line, needs a delivered message, requires)
AUTH_FORMS: dict[str, list[tuple[str, str, bool, list[str]]]] = {
    "DELE": [("dele", "DELE {{ message_number }}", True, [])],
    "LIST": [("list", "LIST", False, []), ("list-n", "LIST {{ message_number }}", True, [])],
    "NOOP": [("noop", "NOOP", False, [])],
    "RETR": [("retr", "RETR {{ message_number }}", True, [])],
    "RSET": [("rset", "RSET", False, [])],
    "STAT": [("stat", "STAT", False, [])],
    "TOP": [("top", "TOP {{ message_number }} 0", True, ["TOP"])],
    "UIDL": [("uidl", "UIDL", False, ["UIDL"]), ("uidl-n", "UIDL {{ message_number }}", True, ["UIDL"])],
}

# AUTHORIZATION-only commands sent in TRANSACTION.
TRANS_FORMS: dict[str, dict] = {
    "USER": {"steps": ['      - send: "USER {{ user.login }}"\n        expect: {ok: false}'],
             "defects": ["pop3-auth-cmds-ok-in-transaction"], "rfc": ["1939#3", "1939#7"]},
    "PASS": {"steps": ['      - send: "USER {{ user.login }}"\n        expect: {ok: false}',
                       '      - send: "PASS {{ user.password }}"\n        secret: true\n        expect: {ok: false}'],
             "defects": ["pop3-auth-cmds-ok-in-transaction"], "rfc": ["1939#3", "1939#7"]},
    "APOP": {"steps": ['      - send: "APOP {{ user.login }} 0123456789abcdef0123456789abcdef"\n        expect: {ok: false}'],
             "defects": ["pop3-auth-cmds-ok-in-transaction"], "rfc": ["1939#3", "1939#7"]},
    "AUTH": {"steps": ['      - send: "AUTH PLAIN"\n        expect: {ok: false}'],
             "defects": ["pop3-auth-cmds-ok-in-transaction"], "rfc": ["1939#3", "5034#4"]},
    "STLS": {"steps": ["      - send: STLS\n        expect: {ok: false}"], "requires": ["STLS"], "tls": "none",
             "defects": ["pop3-stls-after-login"], "rfc": ["2595#4", "1939#3"], "tags": ["stls"]},
}

def _q(text: str) -> str:
    """A single-quoted YAML scalar."""
    return "'" + text.replace("'", "''") + "'"


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' if ("#" in x or "=" in x or ":" in x) else x for x in items) + "]"


def _quote(quote: tuple[str, str]) -> str:
    return f'{{rfc: "{quote[0]}", text: "{quote[1]}"}}'


def _variant(cid: str, rfc: list[str], defects: list[str], with_: str, requires: list[str] | None = None,
             extra: tuple[str, ...] = ()) -> str:
    out = [f"      - id: {cid}", f"        rfc: {_flow(rfc)}"]
    if requires:
        out.append(f"        requires: {_flow(requires)}")
    out += [f"        {line}" for line in extra]
    out += [f"        defects: {_flow(defects)}", f"        with: {with_}"]
    return "\n".join(out) + "\n"


# One body per row of the matrix; ${name} takes each cell's values (docs/scenario-format.md, "Variants").
AUTHORIZATION_BODY = """  - title: '${shown} in the AUTHORIZATION state (after USER, before PASS) is refused'
    level: MUST
    rationale: '${verb} may only be given in the TRANSACTION state, and a command in the wrong state gets -ERR (RFC 1939 §3); the session stays in AUTHORIZATION.'
    quote: %s
    tags: [state-matrix]
%s    steps:
%s      - send: "USER {{ user.login }}"
        expect: {ok: true}
      - send: "${line}"
        note: still AUTHORIZATION (no PASS yet)
        expect: {ok: false}
      - login:
%s    variants:
"""
# The commands about one message first deliver one of the check's own, to have a number to name.
WITH_MESSAGE = ("    connect: false\n    before: []\n",
                """      - deliver: {message: {subject: "state matrix ${shown}"}}
      - retrieve: {message: message, delete: false}
      - connect: pop3
      - greeting:
""",
                """      - send: "DELE {{ message_number }}"
        expect: {ok: true}
""")


def authorization_cells() -> list[str]:
    bodies = []
    for needs in (False, True):
        head, pre, post = WITH_MESSAGE if needs else ("", "", "")
        body = AUTHORIZATION_BODY % (_quote(WRONG_STATE), head, pre, post)
        for verb in sorted(ALLOWED[T] - ALLOWED[A] - NOT_GENERATED):
            for suffix, line, needs_message, requires in AUTH_FORMS[verb]:
                if needs_message != needs:
                    continue
                shown = line.replace("{{ message_number }}", "n")
                defects = ["pop3-user-opens-maildrop"]
                if verb in ("STAT", "LIST") and not needs_message:
                    defects.append("pop3-transaction-before-auth")
                rfc = ["1939#3", "1939#5" if verb not in ("TOP", "UIDL") else "1939#7"]
                body += _variant(f"pop3.state.authorization.{suffix}", rfc, defects,
                                 f'{{verb: {verb}, shown: "{shown}", line: "{line}"}}', requires)
        bodies.append(body)
    return bodies


TRANSACTION_BODY = """  - title: '${verb} in the TRANSACTION state is refused'
    level: MUST
    rationale: '${verb} is valid only in the AUTHORIZATION state; in TRANSACTION it gets -ERR and the session stays usable (RFC 1939 §3).'
    quote: %s
    tags: [state-matrix]
    before: [greeting, login]
    steps:
      - ${probe}
      - send: NOOP
        note: still TRANSACTION
        expect: {ok: true}
    variants:
"""


def transaction_cells() -> list[str]:
    body = TRANSACTION_BODY % _quote(WRONG_STATE)
    for verb in sorted(ALLOWED[A] - ALLOWED[T] - NOT_GENERATED):
        spec = TRANS_FORMS[verb]
        probe = "\n".join("      " + line for step in spec["steps"] for line in step.split("\n"))
        extra = tuple(f"{key}: {_flow(spec[key])}" for key in ("tags",) if key in spec)
        if "tls" in spec:
            extra = (f"tls: {spec['tls']}",) + extra
        if "tags" in spec:
            extra = tuple(e if not e.startswith("tags:") else f"tags: {_flow(['state-matrix'] + spec['tags'])}"
                          for e in extra)
        body += _variant(f"pop3.state.transaction.{verb.lower()}", spec["rfc"], spec["defects"],
                         "", spec.get("requires"), extra).rstrip("\n") + "\n          verb: " + verb + \
            "\n          probe:\n" + probe + "\n"
    return [body.replace("        with: \n", "        with:\n")]


def _cell(cid: str, title: str, defects: list[str], steps: str, rfc: list[str] | None = None,
          rationale: str | None = None, after: str | None = None) -> str:
    out = [f"      - id: {cid}", f"        title: {_q(title)}"]
    if rfc:
        out.append(f"        rfc: {_flow(rfc)}")
    if rationale:
        out.append(f"        rationale: {_q(rationale)}")
    out.append(f"        defects: {_flow(defects)}")
    if after is not None:
        out.append(f"        after: {after}")
    out.append("        steps:")
    return "\n".join(out) + "\n" + "".join("    " + line + "\n" for line in steps.rstrip("\n").split("\n"))


def both_state_cells() -> list[str]:
    both = sorted(ALLOWED[A] & ALLOWED[T])
    assert both == ["CAPA", "QUIT"], both  # the cells below are written for these
    capa = (f"  - level: MUST\n    rfc: {_flow(['2449#5'])}\n"
            f"    rationale: {_q('CAPA is valid in the AUTHORIZATION and TRANSACTION states (RFC 2449 §5).')}\n"
            f"    quote: {_quote(CAPA_STATES)}\n    tags: [state-matrix]\n    variants:\n")
    capa += _cell("pop3.state.authorization.capa",
                  "CAPA in the AUTHORIZATION state answers +OK and leaves the state unchanged", ["pop3-missing-terminator"],
                  "      - send: CAPA\n        expect: {ok: true, multiline: true, timeout: 3}\n      - login:\n")
    capa += _cell("pop3.state.transaction.capa", "CAPA in the TRANSACTION state answers +OK with a capability list",
                  ["pop3-capa-auth-only"], "      - login:\n      - send: CAPA\n        expect: {ok: true, multiline: true}\n")
    minimal = f"  - level: MUST\n    quote: {_quote(MINIMAL)}\n    tags: [state-matrix]\n    variants:\n"
    minimal += _cell(
        "pop3.state.authorization.quit", "QUIT in the AUTHORIZATION state answers +OK and closes the connection",
        ["pop3-quit-auth-no-reply"], "      - quit\n", ["1939#4", "1939#7"],
        "QUIT in AUTHORIZATION ends the session with +OK and without entering the UPDATE state (RFC 1939 §4).", "[]")
    minimal += _cell(
        "pop3.state.transaction.quit", "QUIT in the TRANSACTION state answers +OK, enters UPDATE and closes the connection",
        ["pop3-update-stays-open"], "      - login:\n", ["1939#6", "1939#7"],
        "QUIT from TRANSACTION enters the UPDATE state, which ends with the server closing the TCP connection (RFC 1939 §6).")
    minimal += _cell(
        "pop3.state.transaction.noop", "NOOP in the TRANSACTION state answers +OK",
        ["pop3-noop-unimplemented"], "      - login:\n      - send: NOOP\n        expect: {ok: true}\n", ["1939#5", "1939#7"],
        "NOOP does nothing but reply with a positive response (RFC 1939 §5).")
    return [capa, minimal]


def render() -> str:
    head = ("# GENERATED by scenarios/gen/pop3_states.py from harness/protocol/pop3_states.py: do not edit.\n"
            "suite: pop3-states\nprotocol: pop3\n"
            "description: 'The POP3 state x command matrix (RFC 1939 §3-§6, RFC 2449, 2595, 5034): every command in every state.'\n"
            "before: [greeting]\nafter: [quit]\nchecks:\n")
    return head + "\n".join(authorization_cells() + transaction_cells() + both_state_cells())


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        stale = not OUT.exists() or OUT.read_text() != text
        print(f"{OUT} is {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

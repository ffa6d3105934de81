"""What a failure card points at: the reply that broke a check, what the check judged, folded repeats.

Works on the transcript rows the report model builds (dicts with ``conn``,
``dir``, ``text`` and ``note``; ``text`` is already escaped and cleaned). Pure:
no I/O, nothing read from input ever becomes markup here.

- ``broke_index``: the one entry to mark. A reply quoted in the failure wins;
  a ``RETR n:`` problem marks the reply to that RETR; a message that "was
  delivered ... but must not be" marks the RETR that shows it; otherwise the
  last reply that is not the answer to QUIT (``+OK signing off`` blames
  nothing). A verdict about a missing message marks nothing.
- ``judged``: one or two sentences naming what was judged: the reply and the
  command it answered, or the mailbox and the message; for a smuggling probe,
  whether the fake end was honoured (the replies that prove it) and whether the
  smuggled message was delivered.
- ``fold_repeats``: a run of the same exchange (a POP3 poll repeated while
  waiting for a message) shown once with "×14".
"""

from __future__ import annotations

import re
from typing import Any, Sequence

__all__ = ["broke_index", "judged", "fold_repeats", "reply_hints", "about_mailbox"]

Row = dict[str, Any]

_REPLY = re.compile(r"\(reply: '(.{1,200}?)'\)")
_RETR = re.compile(r"^(?:retrieve: )?(?:RETR|TOP) (\d+)\b")
_MARKER = re.compile(r"\((mh-[0-9a-f]{8}-[0-9a-f]{12}-[\w.-]+)")
_DELIVERED = re.compile(r"message '([^']+)' \((mh-[^)]*?)\) was delivered to (\S+) but must not be")
_MISSING = re.compile(r"message '([^']+)' \((mh-[^)]*?)\) not in (\S+) mailbox after ([\d.]+) s")
_MAILBOX_VERDICT = re.compile(r"mailbox|was delivered to|retrieved message|LIST gives")
_PROBE = re.compile(r"smuggling probe, fake end (.+)$")


def reply_hints(failures: Sequence[str], message: str) -> list[str]:
    """Replies the runner quoted in the failures: "... (reply: '250 2.1.5 OK')"."""
    return [m.group(1)[:60] for text in (*failures, message) for m in _REPLY.finditer(text)]


def about_mailbox(failures: Sequence[str], message: str) -> bool:
    return any(_MAILBOX_VERDICT.search(text) for text in (*failures, message))


def _command_before(rows: Sequence[Row], index: int) -> int | None:
    """The client line the reply at ``index`` answers (same connection)."""
    conn = rows[index]["conn"]
    for i in range(index - 1, -1, -1):
        if rows[i]["dir"] == "C" and rows[i]["conn"] == conn:
            return i
    return None


def _reply_after(rows: Sequence[Row], index: int) -> int | None:
    conn = rows[index]["conn"]
    return next((i for i in range(index + 1, len(rows)) if rows[i]["dir"] == "S" and rows[i]["conn"] == conn), None)


def _is_quit_reply(rows: Sequence[Row], index: int) -> bool:
    cmd = _command_before(rows, index)
    return cmd is not None and rows[cmd]["text"].upper().startswith("QUIT")


def _retr_reply(rows: Sequence[Row], number: str, marker: str | None = None) -> int | None:
    """The last reply to ``RETR number`` (holding ``marker``, when given)."""
    found = None
    for i, row in enumerate(rows):
        if row["dir"] == "C" and re.match(rf"(RETR|TOP) {number}\b", row["text"]):
            reply = _reply_after(rows, i)
            if reply is not None and (marker is None or marker in rows[reply]["text"]):
                found = reply
    return found


def _marker_reply(rows: Sequence[Row], marker: str) -> int | None:
    """The last RETR (else TOP) reply that holds ``marker``: the proof that the message is in the mailbox."""
    found: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row["dir"] == "S" and marker in row["text"]:
            cmd = _command_before(rows, i)
            verb = rows[cmd]["text"][:4].upper() if cmd is not None else ""
            if verb in ("RETR", "TOP "):
                found[verb] = i
    return found.get("RETR", found.get("TOP "))


def broke_index(rows: Sequence[Row], status: str, failures: Sequence[str], message: str) -> int | None:
    """The entry that broke the check (see the module docstring), or None."""
    replies = [i for i, r in enumerate(rows) if r["dir"] == "S"]
    for hint in reply_hints(failures, message):
        for i in reversed(replies):
            if rows[i]["text"].startswith(hint[:40]):
                return i
    texts = [*failures, message]
    for text in texts:
        m = _DELIVERED.search(text)
        if m:
            return _marker_reply(rows, m.group(2))
    for text in failures or [message]:
        m = _RETR.match(re.sub(r"^\S+\.ya?ml:\d+: ", "", text))
        if m:
            return _retr_reply(rows, m.group(1))
    if status == "failed":
        if about_mailbox(failures, message):
            return None
        candidates = [i for i in replies if not _is_quit_reply(rows, i)]
        return candidates[-1] if candidates else None
    events = [i for i, r in enumerate(rows) if r["dir"] != "C"]
    return events[-1] if events else (len(rows) - 1 if rows else None)


def _first_line(text: str, limit: int = 90) -> str:
    line = re.split(r"\\r\\n|\\n", text, maxsplit=1)[0]
    return line if len(line) <= limit else line[:limit] + "…"


def _smuggling(rows: Sequence[Row], status: str, failures: Sequence[str]) -> list[str]:
    probe = next((i for i, r in enumerate(rows) if r["dir"] == "C" and _PROBE.search(r["note"] or "")), None)
    if probe is None:
        return []
    end = _PROBE.search(rows[probe]["note"]).group(1)          # type: ignore[union-attr]
    conn = rows[probe]["conn"]
    after: list[int] = []
    for i in range(probe + 1, len(rows)):
        if rows[i]["conn"] != conn:
            continue
        if rows[i]["dir"] == "C":
            break
        if rows[i]["dir"] == "S":
            after.append(i)
    out = []
    if len(after) >= 2:
        out.append(f"Fake end {end}: honoured. The server answered {_first_line(rows[after[0]]['text'])!s} at the fake "
                   f"end and then {_first_line(rows[after[1]]['text'])} to the smuggled MAIL FROM (replies "
                   f"{len(after)} in all): it read the smuggled commands.")
    elif after:
        first = _first_line(rows[after[0]]["text"])
        verdict = ("not honoured: one reply for the whole data, so it was taken as one message" if first.startswith("2")
                   else "refused: the server rejected the data")
        out.append(f"Fake end {end}: {verdict} ({first}).")
    else:
        out.append(f"Fake end {end}: no reply after the probe (the server closed or stayed silent).")
    smuggled = [m for m in (_DELIVERED.search(f) for f in failures) if m and "smuggled" in m.group(2)]
    if smuggled:
        m = smuggled[0]
        proof = _marker_reply(rows, m.group(2))
        where = f" ({_first_line(rows[_command_before(rows, proof)]['text'])} shows it)" if proof is not None else ""
        out.append(f"Smuggled message: delivered to {m.group(3)}{where}.")
    elif status == "passed":
        out.append("Smuggled message: not delivered (looked for in the mailbox).")
    elif status == "failed":
        out.append("Smuggled message: not looked for; the check ended at an earlier step (see What went wrong), "
                   "so this card does not say whether it was delivered.")
    else:
        out.append("Smuggled message: not judged (the check could not finish).")
    return out


def judged(rows: Sequence[Row], status: str, failures: Sequence[str], message: str,
           broke: int | None) -> tuple[str, ...]:
    """What the check judged, for the card's first fact."""
    smuggling = _smuggling(rows, status, failures)
    if smuggling:
        return tuple(smuggling)
    if status == "error":
        return ("Nothing: the check could not be judged; the cause is below.",)
    for text in failures or [message]:
        m = _DELIVERED.search(text)
        if m:
            proof = _marker_reply(rows, m.group(2))
            shown = f"; {_first_line(rows[_command_before(rows, proof)]['text'])} shows it" if proof is not None else ""
            return (f"The mailbox: message '{m.group(1)}' was delivered to {m.group(3)}{shown}.",)
        m = _MISSING.search(text)
        if m:
            return (f"The mailbox: message '{m.group(1)}' was not in {m.group(3)} mailbox within {m.group(4)} s.",)
    if broke is not None and rows[broke]["dir"] == "S":
        cmd = _command_before(rows, broke)
        answered = f" to {_first_line(rows[cmd]['text'])}" if cmd is not None else " (the greeting)"
        if cmd is not None and not re.match(r"[A-Za-z]{3,10}(\s|\\r|$)", rows[cmd]["text"]):
            answered = " to the message data (the end of DATA)"      # the client line was a message body
        return (f"The reply{answered}: {_first_line(rows[broke]['text'])}",)
    if about_mailbox(failures, message):
        return ("The mailbox: the retrieved message (see What went wrong).",)
    return ()


def _key(row: Row) -> tuple[str, str, str, str]:
    return (row["conn"], row["dir"], row["text"], row["note"] if row["dir"] == "*" else "")


def fold_repeats(rows: list[Row], period_max: int = 12, min_reps: int = 3) -> list[Row]:
    """Show a run of ``min_reps`` or more identical exchanges (times aside) once, then a "×N" marker row."""
    keys = [_key(r) for r in rows]
    out: list[Row] = []
    i, n = 0, len(rows)
    while i < n:
        best: tuple[int, int] | None = None
        for p in range(1, min(period_max, (n - i) // min_reps) + 1):
            reps = 1
            while i + (reps + 1) * p <= n and keys[i + reps * p:i + (reps + 1) * p] == keys[i:i + p]:
                reps += 1
            if reps >= min_reps and (best is None or reps * p > best[0] * best[1]):
                best = (reps, p)
        if best is not None and not any(r.get("broke") for r in rows[i + best[1]:i + best[0] * best[1]]):
            reps, p = best
            out.extend(rows[i:i + p])
            last = rows[i + reps * p - 1]
            note = (f"×{reps}: the {p} entr{'y' if p == 1 else 'ies'} above {'was' if p == 1 else 'were'} repeated "
                    f"{reps} times in all, the same each time; shown once")
            out.append(dict(t=last.get("t"), conn=rows[i]["conn"], dir="*", text="", note=note,
                            line=f"* {note}", wire=(), delta_ms=None, elided=0, repeat=reps))
            i += reps * p
        else:
            out.append(rows[i])
            i += 1
    return out

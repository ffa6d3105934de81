"""Coverage-guided fuzzing of the SMTP/POP3 reply readers and the dot-stuffing codec.

    python benchmarks/fuzz_parsers.py                 # 60 s with atheris (libFuzzer) if installed
    python benchmarks/fuzz_parsers.py --seconds 10    # bounded run
    python benchmarks/fuzz_parsers.py --random        # plain random fallback (no atheris needed)

One input drives one of four targets (chosen by its first byte): the SMTP reader,
the POP3 reader (with multi-line hints taken from the input), ``parse_ehlo`` /
``parse_capa`` on whatever was accepted, and ``dot_stuff``/``dot_unstuff``. The
rest of the input is split into TCP-like chunks at offsets the input chooses, so
segmentation is fuzzed too. Allowed outcomes: replies, ``NEED_DATA``/``CLOSED``,
``RemoteProtocolError``, ``Oversize``. Anything else is a crash: libFuzzer writes
the input to ``crash-*`` and the script exits non-zero (the random fallback writes
``fuzz-crash-<n>.bin``). Prints the number of inputs run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.errors import Oversize, RemoteProtocolError  # noqa: E402
from harness.message import dot_stuff, dot_unstuff  # noqa: E402
from harness.protocol.common import CLOSED, NEED_DATA  # noqa: E402
from harness.protocol.pop3 import Pop3ResponseReader, parse_capa  # noqa: E402
from harness.protocol.smtp import SmtpReplyReader, parse_ehlo  # noqa: E402

COUNT = 0


def _chunks(data: bytes, sizes: bytes) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        n = (sizes[k % len(sizes)] % 64 + 1) if sizes else len(data)
        out.append(data[i:i + n])
        i += n
        k += 1
    return out


def _drain(reader, chunks: list[bytes], hints: bytes = b"") -> list:
    events: list = []
    for chunk in chunks + [b""]:
        reader.receive_data(chunk)
        while True:
            if hints and isinstance(reader, Pop3ResponseReader):
                reader.expect(bool(hints[len(events) % len(hints)] & 1))
            ev = reader.next_event()
            if ev is NEED_DATA or ev is CLOSED:
                break
            events.append(ev)
    return events


def one_input(data: bytes) -> None:
    global COUNT
    COUNT += 1
    if len(data) < 2:
        return
    selector, sizes_len = data[0] % 4, data[1] % 8
    sizes, body = data[2:2 + sizes_len], data[2 + sizes_len:]
    try:
        if selector == 0:
            whole = _drain(SmtpReplyReader(max_line=2048, max_lines=64), [body])
            split = _drain(SmtpReplyReader(max_line=2048, max_lines=64), _chunks(body, sizes))
            assert [r.raw for r in whole] == [r.raw for r in split], "segmentation changed the SMTP replies"
            for r in whole:
                parse_ehlo(r)
                str(r)
        elif selector == 1:
            whole = _drain(Pop3ResponseReader(max_line=2048, max_body=16384), [body], sizes or b"\x01")
            split = _drain(Pop3ResponseReader(max_line=2048, max_body=16384), _chunks(body, sizes), sizes or b"\x01")
            assert [r.raw for r in whole] == [r.raw for r in split], "segmentation changed the POP3 responses"
            for r in whole:
                if r.body is not None:
                    parse_capa(r)
                r.status, r.resp_code  # noqa: B018 - properties must not raise
        elif selector == 2:
            assert dot_unstuff(dot_stuff(body)) == body, "dot_unstuff(dot_stuff(x)) != x"
        else:
            reader = Pop3ResponseReader()
            reader.expect(True)
            message = body.replace(b"\r", b"").replace(b"\n", b"\r\n")
            if not message.endswith(b"\r\n"):
                message += b"\r\n"
            reader.receive_data(b"+OK\r\n" + dot_stuff(message) + b".\r\n")
            ev = reader.next_event()
            assert ev.body_bytes == message, "POP3 reader does not invert dot_stuff"
    except (RemoteProtocolError, Oversize):
        pass


SEEDS = [b"\x00\x02\x03\x05250-a\r\n250 b\r\n", b"\x01\x01\x01+OK\r\n..x\r\n.\r\n", b"\x02\x00.\r\n.x",
         b"\x00\x00421 bye\r\n", b"\x01\x00-ERR [IN-USE] x\r\n", b"\x03\x00.\n..\n.a"]


def random_fuzz(seconds: float, seed: int) -> int:
    rng = random.Random(seed)
    pieces = [b"250", b"-", b" ", b"\r\n", b"\n", b".", b"+OK", b"-ERR", b"+", b"\xff", b"\x00", b"2x0", b"x" * 100]
    deadline = time.monotonic() + seconds
    crashes = 0
    while time.monotonic() < deadline:
        if rng.random() < 0.5:
            data = bytes(rng.randrange(4) for _ in range(2)) + b"".join(rng.choice(pieces) for _ in range(rng.randrange(40)))
        else:
            base = bytearray(rng.choice(SEEDS))
            for _ in range(rng.randrange(1, 8)):
                op = rng.randrange(3)
                pos = rng.randrange(len(base) + 1)
                if op == 0:
                    base[pos:pos] = rng.choice(pieces)
                elif op == 1 and base:
                    del base[pos % len(base)]
                else:
                    base[pos:pos] = os.urandom(rng.randrange(1, 6))
            data = bytes(base)
        try:
            one_input(data)
        except Exception as exc:  # noqa: BLE001 - a finding
            crashes += 1
            path = Path(f"fuzz-crash-{crashes}.bin")
            path.write_bytes(data)
            print(f"CRASH {type(exc).__name__}: {exc} (input in {path})", file=sys.stderr)
            if crashes >= 5:
                break
    return crashes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--random", action="store_true", help="plain random fuzzing, no atheris")
    ap.add_argument("--seed", type=int, default=1)
    args, rest = ap.parse_known_args()
    try:
        if args.random:
            raise ImportError
        import atheris
    except ImportError:
        t0 = time.monotonic()
        crashes = random_fuzz(args.seconds, args.seed)
        print(f"random fallback: {COUNT} inputs in {time.monotonic() - t0:.1f} s, {crashes} crashes")
        return 1 if crashes else 0
    import tempfile
    corpus = Path(tempfile.mkdtemp(prefix="mailharness-fuzz-corpus-"))
    for i, s in enumerate(SEEDS):
        (corpus / f"seed-{i}").write_bytes(s)
    # libFuzzer prints "Done N runs in S second(s)" at the end, or writes crash-* and exits 1.
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], f"-max_total_time={int(args.seconds)}", "-max_len=4096", "-rss_limit_mb=1024",
                   *rest, str(corpus)], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())

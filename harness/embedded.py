"""The server a run tests: the target file when one is given, else the embedded reference server.

``mailharness run``, ``mailharness load`` and the pytest plugin (``--mail-target FILE|embedded``)
all start from this one choice. The reference server is started here and stopped when the
``with`` block ends, so no caller can forget to stop it or stop it twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from harness.config.target import Target, load_target, target_from_mapping
from harness.errors import ScenarioError

__all__ = ["EMBEDDED_NAME", "run_target"]

# The target's source, shown as its name in results.json. report/baseline.py recognises the name:
# the embedded server's ports change every run, so they are not compared.
EMBEDDED_NAME = "embedded reference server"


@contextlib.contextmanager
def run_target(path: Path | str | None, *, defects: Sequence[str] = (), embedded: bool = True,
               announce: TextIO | None = None) -> Iterator[Target]:
    """The target of a run, for the duration of the ``with`` block.

    ``path`` is a target file. Without one, ``embedded`` starts the reference server with the named
    ``defects`` (docs/defects.md); ``embedded=False`` yields an empty ``Target`` for a caller that
    fills it from its own options (``run --smtp/--pop3``). ``announce`` gets one line with the
    embedded server's ports. An unknown defect, or defects without the embedded server, is a
    ``ScenarioError`` (exit 2), raised before anything starts.
    """
    if path is not None or not embedded:
        if defects:
            raise ScenarioError("--defect only applies to the embedded server, "
                                "which runs only when no target is given")
        yield load_target(path) if path is not None else Target()
        return
    from harness.refserver import ReferenceServer   # asyncio, aiosmtpd, trustme: only when it is used
    try:
        server = ReferenceServer(defects=defects)
        server.start()
    except ValueError as exc:          # an unknown defect name
        raise ScenarioError(str(exc)) from None
    try:
        if announce is not None:
            named = f" with defects {', '.join(defects)}" if defects else ""
            announce.write(f"{EMBEDDED_NAME}{named}: SMTP 127.0.0.1:{server.smtp_port}, "
                           f"POP3 127.0.0.1:{server.pop3_port}\n")
        yield target_from_mapping(server.target(), EMBEDDED_NAME)
    finally:
        server.stop()

"""A small fast POP3 server for the load benchmark (not a conformance reference): one fixed maildrop.

    python benchmarks/pop3_fixed_server.py PORT [--procs N] [--messages 10] [--size 1024]

Every login succeeds and sees the same ``--messages`` messages of exactly ``--size`` octets; DELE
answers +OK but deletes nothing, so every session finds the same maildrop and the benchmark measures
the clients, not the mailbox. ``--procs`` processes share the port (SO_REUSEPORT), each an asyncio
loop. Loopback only; it runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import time


def message(size: int, index: int) -> bytes:
    head = (f"From: bench@example.test\r\nTo: user@example.test\r\nSubject: message {index}\r\n"
            f"Message-ID: <{index}@bench.example.test>\r\n\r\n").encode()
    body = bytearray()
    while len(head) + len(body) < size:
        body += b"x" * 62 + b"\r\n"
    return (head + bytes(body))[: size - 2] + b"\r\n"


def serve(port: int, count: int, size: int) -> None:
    msgs = [message(size, i + 1) for i in range(count)]
    stat = b"+OK %d %d\r\n" % (count, count * size)
    listing = b"+OK\r\n" + b"".join(b"%d %d\r\n" % (i + 1, size) for i in range(count)) + b".\r\n"
    uidl = b"+OK\r\n" + b"".join(b"%d m%d\r\n" % (i + 1, i + 1) for i in range(count)) + b".\r\n"
    # no line of these messages starts with "." so no dot-stuffing is needed
    retr = [b"+OK %d octets\r\n" % size + m + b".\r\n" for m in msgs]
    fixed = {b"USER": b"+OK\r\n", b"PASS": b"+OK logged in\r\n", b"STAT": stat, b"LIST": listing,
             b"UIDL": uidl, b"NOOP": b"+OK\r\n", b"RSET": b"+OK\r\n", b"DELE": b"+OK kept\r\n",
             b"CAPA": b"+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n"}

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK bench POP3 ready\r\n")
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line or len(line) > 512:
                    break
                verb, _, arg = line.strip().partition(b" ")
                verb = verb.upper()
                if verb == b"QUIT":
                    writer.write(b"+OK bye\r\n")
                    break
                if verb == b"RETR" and arg.isdigit() and 1 <= int(arg) <= count:
                    writer.write(retr[int(arg) - 1])
                else:
                    writer.write(fixed.get(verb, b"-ERR unknown command\r\n"))
                await writer.drain()
            await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        server = await asyncio.start_server(session, sock=sock, backlog=1024)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with server:
            await stop.wait()

    asyncio.run(main())


def run() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--messages", type=int, default=10)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    children = []
    for _ in range(args.procs - 1):
        pid = os.fork()
        if pid == 0:
            serve(args.port, args.messages, args.size)
            os._exit(0)
        children.append(pid)
    try:       # SIGTERM ends this loop (add_signal_handler), then the children are stopped
        serve(args.port, args.messages, args.size)
    finally:
        # A SIGTERM to the process group has reached the children too; one to this process alone has not.
        time.sleep(0.2)
        for pid in children:
            try:
                if os.waitpid(pid, os.WNOHANG) == (0, 0):
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(run())

"""Packet captures for checks: ``mailharness run --pcap`` (failed/error checks) or ``--pcap all``.

Two ways to get a check's packets, chosen per run:

* **Live** (root, loopback target): one scapy ``AsyncSniffer`` on ``lo`` for the
  whole run, filtered on the target's ports. After the run each check's packets
  are picked out by the client ports its connections used (the session records
  ``connected from HOST:PORT`` for every connection). Checks run in parallel on
  the same server ports, so the client port is what tells them apart.
* **Synthesized** (unprivileged, remote target, or a check whose live packets are
  missing): Ether/IPv4/TCP packets rebuilt from the transcript, with a three-way
  handshake, correct sequence and acknowledgement numbers, FIN/RST at the end,
  and the transcript's timestamps. Secrets are masked in the transcript and so in
  the pcap. Bytes exchanged inside TLS appear in clear text after the
  ``TLS established`` mark: the pcap shows the conversation, not the ciphertext.

scapy is imported lazily, only here and only when a pcap is written or a live
capture starts (``import scapy.all`` alone costs ~0.7 s).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness.escapes import EscapeError, decode_escapes

__all__ = ["CaptureSession", "TcpStreamRecord", "streams_from_transcript", "synthesize_packets",
           "write_pcap", "live_capture_possible"]

_CONNECTED = re.compile(r"^connected from \[?([^\]]+?)\]?:(\d+) to \[?([^\]]+?)\]?:(\d+)$")
_CONNECT = re.compile(r"^connect \[?([^\]\s]+?)\]?:(\d+)")
MSS = 1460
EPOCH_BASE = 1_700_000_000.0      # synthesized pcaps: transcript seconds are added to this
CLIENT_MAC, SERVER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


@dataclass
class TcpStreamRecord:
    """One TCP connection as the transcript saw it."""

    conn: str
    client: tuple[str, int]
    server: tuple[str, int]
    start: float
    events: list[tuple[float, str, bytes]] = field(default_factory=list)  # (t, "C"|"S"|"FIN-C"|"FIN-S"|"RST-C", data)


def streams_from_transcript(entries: Iterable[dict[str, Any]]) -> list[TcpStreamRecord]:
    """Split a check's transcript (its JSON form) into TCP streams, one per connection opened."""
    streams: list[TcpStreamRecord] = []
    current: dict[str, TcpStreamRecord] = {}
    pending_target: dict[str, tuple[str, int]] = {}
    fake_port = 40000
    for e in entries:
        conn, direction, t, note = e.get("conn", "-"), e.get("dir"), float(e.get("t", 0.0)), e.get("note", "")
        if direction == "*":
            m = _CONNECTED.match(note)
            if m:
                rec = TcpStreamRecord(conn, (m.group(1), int(m.group(2))), (m.group(3), int(m.group(4))), t)
                streams.append(rec)
                current[conn] = rec
                continue
            m = _CONNECT.match(note)
            if m:
                pending_target[conn] = (m.group(1), int(m.group(2)))
                current.pop(conn, None)
                continue
            rec = current.get(conn)
            if rec is None:
                continue
            if note.startswith("client reset"):
                rec.events.append((t, "RST-C", b""))
                current.pop(conn, None)
            elif note.startswith("client closed") or note.startswith("client half-closed"):
                rec.events.append((t, "FIN-C", b""))
                if note.startswith("client closed"):
                    current.pop(conn, None)
            elif note.startswith("connection closed by server"):
                rec.events.append((t, "FIN-S", b""))
            continue
        rec = current.get(conn)
        if rec is None:
            # A transcript from before the session recorded client ports: invent one.
            host, port = pending_target.get(conn, ("127.0.0.1", 25))
            fake_port += 1
            rec = TcpStreamRecord(conn, ("127.0.0.1", fake_port), (host, port), t)
            streams.append(rec)
            current[conn] = rec
        try:
            data = decode_escapes(e.get("text", ""))
        except EscapeError:
            data = e.get("text", "").encode("utf-8", "replace")
        if data:
            rec.events.append((t, "C" if direction == "C" else "S", data))
    return streams


def _ip(host: str) -> str:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return str(addr) if addr.version == 4 else "127.0.0.1"


def synthesize_packets(streams: list[TcpStreamRecord], base: float = EPOCH_BASE) -> list[Any]:
    """Ether/IP/TCP packets for the streams: handshake, data with seq/ack, FIN or RST."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    packets: list[Any] = []
    for n, s in enumerate(streams):
        cip, sip = _ip(s.client[0]), _ip(s.server[0])
        cport, sport = s.client[1], s.server[1]
        seq = {"C": 1_000_000 + n * 7919, "S": 2_000_000 + n * 104729}
        closed = {"C": False, "S": False}

        def pkt(side: str, flags: str, t: float, payload: bytes = b"") -> None:
            other = "S" if side == "C" else "C"
            if side == "C":
                p = Ether(src=CLIENT_MAC, dst=SERVER_MAC) / IP(src=cip, dst=sip) / TCP(sport=cport, dport=sport)
            else:
                p = Ether(src=SERVER_MAC, dst=CLIENT_MAC) / IP(src=sip, dst=cip) / TCP(sport=sport, dport=cport)
            p[TCP].flags = flags
            p[TCP].seq = seq[side] & 0xFFFFFFFF
            p[TCP].ack = seq[other] & 0xFFFFFFFF if "A" in flags else 0
            p[TCP].window = 65535
            if payload:
                p = p / Raw(payload)
            p.time = base + t
            packets.append(p)

        t0 = s.start
        # three-way handshake (SYN and SYN-ACK each take one sequence number)
        pkt("C", "S", t0)
        seq["C"] += 1
        pkt("S", "SA", t0)
        seq["S"] += 1
        pkt("C", "A", t0)
        for t, kind, data in s.events:
            if kind in ("C", "S"):
                if closed[kind]:
                    continue
                for off in range(0, len(data), MSS):
                    piece = data[off:off + MSS]
                    pkt(kind, "PA", t, piece)
                    seq[kind] += len(piece)
                pkt("S" if kind == "C" else "C", "A", t)
            elif kind in ("FIN-C", "FIN-S"):
                side = kind[-1]
                if closed[side]:
                    continue
                pkt(side, "FA", t)
                seq[side] += 1
                closed[side] = True
                pkt("S" if side == "C" else "C", "A", t)
            elif kind == "RST-C":
                pkt("C", "RA", t)
                closed["C"] = closed["S"] = True
        if not closed["C"] and not closed["S"]:
            last = s.events[-1][0] if s.events else t0
            pkt("C", "FA", last)
            seq["C"] += 1
            pkt("S", "FA", last)
            seq["S"] += 1
            pkt("C", "A", last)
    packets.sort(key=lambda p: float(p.time))
    return packets


def write_pcap(path: Path, packets: list[Any]) -> None:
    from scapy.utils import wrpcap
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    wrpcap(str(tmp), packets, linktype=1)
    os.replace(tmp, path)


def live_capture_possible(hosts: Iterable[str]) -> tuple[bool, str]:
    """Live capture needs root (an AF_PACKET socket) and a loopback target."""
    for host in hosts:
        try:
            if not ipaddress.ip_address(host.strip("[]")).is_loopback:
                return False, f"{host} is not a loopback address"
        except ValueError:
            if host != "localhost":
                return False, f"{host} is not a loopback address"
    if not hasattr(socket, "AF_PACKET"):
        return False, "no AF_PACKET sockets on this platform"
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
    except (PermissionError, OSError) as exc:
        return False, f"no packet socket ({exc.strerror or exc})"
    return True, ""


def _safe_name(check_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", check_id)[:150] or "check"


class CaptureSession:
    """``--pcap``: start before the run (``start``), write the pcaps after it (``finish``)."""

    def __init__(self, mode: str, ports: Iterable[int], hosts: Iterable[str], live: bool | None = None) -> None:
        if mode not in ("failed", "all"):
            raise ValueError(f"--pcap {mode!r}: use 'failed' or 'all'")
        self.mode = mode
        self.ports = sorted({p for p in ports if p})
        self.hosts = list(hosts)
        if live is None and os.environ.get("MAILHARNESS_PCAP_LIVE", "").lower() in ("0", "no", "off", "false"):
            live = False          # force synthesized pcaps (tests, or to keep passwords out of pcaps)
        self.want_live = live
        self.sniffer: Any = None
        self.why_not_live = ""
        self.written: dict[str, str] = {}
        self.method: dict[str, str] = {}

    def start(self) -> "CaptureSession":
        if self.want_live is False or not self.ports:
            self.why_not_live = "live capture disabled" if self.want_live is False else "no ports"
            return self
        ok, why = live_capture_possible(self.hosts)
        if not ok:
            self.why_not_live = why
            return self
        try:
            import scapy.layers.inet  # noqa: F401 - dissect IP/TCP while sniffing
            import scapy.layers.l2  # noqa: F401 - before sniffing on lo (docs/contributing.md)
            from scapy.config import conf
            from scapy.sendrecv import AsyncSniffer
            bpf = "tcp and (" + " or ".join(f"port {p}" for p in self.ports) + ")"
            # L2socket: without it every loopback packet appears twice
            sock = conf.L2socket(iface="lo", filter=bpf)
            raw = getattr(sock, "ins", None)
            if raw is not None:
                # A burst (the preflight's parallel logins) outruns a Python sniffer: a large
                # kernel buffer keeps the packets until it catches up instead of dropping them.
                with contextlib.suppress(OSError):
                    raw.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
            self.sniffer = AsyncSniffer(opened_socket=sock, store=True)
            self.sniffer.start()
            time.sleep(0.2)           # the socket is open before the first check connects
        except Exception as exc:      # noqa: BLE001 - any failure here just means "synthesize"
            self.sniffer = None
            self.why_not_live = f"live capture failed: {exc}"
        return self

    def _stop(self) -> list[Any]:
        if self.sniffer is None:
            return []
        time.sleep(0.3)               # the last FIN/ACKs
        try:
            packets = list(self.sniffer.stop() or [])
        except Exception as exc:      # noqa: BLE001
            self.why_not_live = f"live capture failed: {exc}"
            return []
        return packets

    def finish(self, run: Any, out_dir: Path) -> dict[str, str]:
        """Write ``pcap/<check-id>.pcap`` for each selected check; return {check id: relative path}."""
        live_packets = self._stop()
        by_port: dict[int, list[Any]] = {}
        if live_packets:
            from scapy.layers.inet import TCP
            server_ports = set(self.ports)
            for p in live_packets:
                if TCP not in p:
                    continue
                tcp = p[TCP]
                client = tcp.sport if tcp.dport in server_ports else tcp.dport
                by_port.setdefault(client, []).append(p)
        for result in run.checks:
            status = getattr(result.status, "value", result.status)
            if self.mode == "failed" and status not in ("failed", "error"):
                continue
            streams = streams_from_transcript(result.transcript)
            if not streams:
                continue
            packets: list[Any] = []
            method = "synthesized"
            if by_port:
                for s in streams:
                    packets += by_port.get(s.client[1], [])
                if packets:
                    method = "live"
                    packets.sort(key=lambda p: float(p.time))
            if not packets:
                packets = synthesize_packets(streams)
            rel = f"pcap/{_safe_name(result.id)}.pcap"
            write_pcap(out_dir / rel, packets)
            self.written[result.id] = rel
            self.method[result.id] = method
        return self.written


def for_target(mode: str, target: Any) -> CaptureSession:
    """A capture session on every endpoint of ``target`` (smtp, pop3, smtps, pop3s)."""
    eps = [target.endpoint(s) for s in ("smtp", "pop3", "smtps", "pop3s")]
    eps = [e for e in eps if e is not None]
    return CaptureSession(mode, [e.port for e in eps], [e.host for e in eps])

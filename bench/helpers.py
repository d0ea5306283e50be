#!/usr/bin/env python3
"""Helpers for bench/run (Python 3 standard library only).

Subcommands (each prints one line, JSON unless stated):
  free-port [--even] [--span N]     a free port on 127.0.0.1 (UDP and TCP), as text
  options-ping PORT SECONDS         send OPTIONS until a 200 comes back; exit 1 if none
  proc PID                          {"rss_kib", "fds", "cpu_ticks", "udp_mem_kib", "at"} of a process
  sample PID SECONDS [PID2]         CPU% and RSS of PID over SECONDS, CPU% of PID2 (sipp)
  sipp-stat STATFILE                the last line of a sipp -trace_stat file, summarised
  sipp-acks COUNTSFILE              ACKs sent so far, from a sipp -trace_counts file, as text
  rtt RTTFILE                       sipp -trace_rtt file: answer rate and response times
  latency PORT RATE CALLS HOLD_MS SINK
                                    place CALLS calls at RATE calls/s and time INVITE -> 200
  pop SIP_PORT HTTP_PORT USER PASSWORD CALLS HOLD_MS SINK
                                    a navigator (SIP phone + CTI websocket) takes CALLS
                                    sequential calls; time INVITE -> screen pop, -> phone ring
  pop-load SIP_PORT HTTP_PORT PREFIX PASSWORD NAVIGATORS RATE CALLS HOLD_MS SINK
                                    NAVIGATORS navigators (PREFIX001…) ready; CALLS calls at
                                    RATE calls/s; time INVITE -> screen pop on any of them
  driver-ready PORT SECONDS         wait until chromedriver on PORT says ready; exit 1 if not
  page SIP_PORT HTTP_PORT USER PASSWORD CALLS HOLD_MS SINK DRIVER_PORT PROFILE SAVES
                                    the same navigator with the desk page in headless Chromium
                                    (chromedriver on DRIVER_PORT, profile folder PROFILE):
                                    pop-received -> pop-painted per call, then SAVES draft
                                    saves on one call's log, draft-sent -> draft-acked
  median NUMBER...                  median of the numbers given
  judge-step ...                    whether a rate step was clean (see judge_step)
  aggregate FILE                    medians over runs of the JSON lines in FILE
  table FILE                        a markdown table of aggregated figures
  get KEY JSON                      one field of a JSON object, as text
  logscan LOGFILE                   warnings and errors in a JSON-lines engine log
"""

import base64
import hashlib
import http.client
import json
import math
import os
import random
import re
import select
import socket
import statistics
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"


# ---------------------------------------------------------------- ports


def _bindable(port, kinds):
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port(even=False, span=1):
    """A port P with P..P+span-1 free for UDP and TCP, away from the RTP range."""
    for _ in range(2000):
        p = random.randrange(40000, 60000 - span)
        if even and p % 2:
            p += 1
        if all(_bindable(p + i, (socket.SOCK_DGRAM, socket.SOCK_STREAM)) for i in range(span)):
            return p
    raise SystemExit("no free port found")


# ---------------------------------------------------------------- SIP


def options_ping(port, seconds):
    deadline = time.monotonic() + seconds
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    lport = s.getsockname()[1]
    n = 0
    while time.monotonic() < deadline:
        n += 1
        msg = (
            f"OPTIONS sip:211@{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{lport};branch=z9hG4bKbenchopt{os.getpid()}x{n};rport\r\n"
            f"From: <sip:bench@{HOST}:{lport}>;tag=benchopt{n}\r\n"
            f"To: <sip:211@{HOST}:{port}>\r\n"
            f"Call-ID: benchopt-{os.getpid()}-{n}@{HOST}\r\n"
            f"CSeq: {n} OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), (HOST, port))
        end = min(deadline, time.monotonic() + 0.3)
        while time.monotonic() < end:
            r, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            try:
                data = s.recv(65535)
            except ConnectionRefusedError:
                break
            if data.startswith(b"SIP/2.0 200"):
                return 0
    return 1


def _header(msg, *names):
    for name in names:
        m = re.search(rb"^" + re.escape(name) + rb"[ \t]*:[ \t]*(.*?)\r?$", msg, re.M | re.I)
        if m:
            return m.group(1).strip()
    return None


class LatencyCaller:
    """A minimal UAC: INVITE (retransmitted per RFC 3261 timer A), ACK, BYE.

    The INVITE's send time is taken just before sendto(); the 200's arrival
    time is the kernel's receive timestamp (SO_TIMESTAMPNS), so the time this
    process takes to wake up is not counted.
    """

    T1 = 0.5

    def __init__(self, port, rate, calls, hold_ms, sink):
        self.remote = (HOST, port)
        self.rate, self.calls, self.hold = rate, calls, hold_ms / 1000.0
        self.sink = sink
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_TIMESTAMPNS", 35), 1)
        self.s.bind((HOST, 0))
        self.s.setblocking(False)
        self.lport = self.s.getsockname()[1]
        self.state = {}
        self.tag = f"{os.getpid()}{random.randrange(1 << 30)}"

    def number(self, c):
        """The caller's number of call c (every call the same, an Ottawa number)."""
        return "+16135550199"

    def _send(self, data):
        try:
            self.s.sendto(data.encode(), self.remote)
        except OSError:
            pass  # counted as a retransmission later, or as a failed call

    def _invite(self, c):
        sdp = (
            "v=0\r\n"
            f"o=bench 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {self.sink} RTP/AVP 0 8 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        )
        return (
            f"INVITE sip:211@{HOST}:{self.remote[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.lport};branch=z9hG4bK{c['id']}i;rport\r\n"
            f"From: <sip:{self.number(c)}@{HOST}:{self.lport}>;tag=f{c['id']}\r\n"
            f"To: <sip:211@{HOST}:{self.remote[1]}>\r\n"
            f"Call-ID: {c['id']}@{HOST}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:{self.number(c)}@{HOST}:{self.lport}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )

    def _in_dialog(self, c, method, cseq, branch):
        return (
            f"{method} {c['target']} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.lport};branch=z9hG4bK{c['id']}{branch};rport\r\n"
            f"From: <sip:{self.number(c)}@{HOST}:{self.lport}>;tag=f{c['id']}\r\n"
            f"To: <sip:211@{HOST}:{self.remote[1]}>;tag={c['to_tag']}\r\n"
            f"Call-ID: {c['id']}@{HOST}\r\nCSeq: {cseq} {method}\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )

    def _recv(self):
        data, anc, _, _ = self.s.recvmsg(65535, socket.CMSG_SPACE(16))
        stamp = time.time_ns()
        for level, kind, raw in anc:
            if level == socket.SOL_SOCKET and len(raw) >= 16:
                sec, nsec = struct.unpack("qq", raw[:16])
                stamp = sec * 1_000_000_000 + nsec
        return data, stamp

    def _handle(self, data, stamp, now):
        call_id = (_header(data, b"Call-ID", b"i") or b"").decode(errors="replace")
        cid = call_id.split("@")[0]
        if not data.startswith(b"SIP/2.0 "):
            # A request from the engine (e.g. BYE): answer 200 and note it.
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            lines = [ln for ln in head.split("\r\n")[1:] if re.match(r"(?i)(via|v|from|f|to|t|call-id|i|cseq)\s*:", ln)]
            self._send("SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n")
            c = self.state.get(cid)
            if c and data.startswith(b"BYE"):
                c["engine_bye"] = True
                c["done"] = True
            return
        c = self.state.get(cid)
        if c is None:
            return
        code = int(data[8:11])
        cseq = (_header(data, b"CSeq") or b"").decode().split()
        method = cseq[1] if len(cseq) > 1 else ""
        if method == "INVITE":
            if code < 200:
                c["provisional"] = True
                return
            if code >= 300:
                c["error"] = f"INVITE answered {code}"
                c["done"] = True
                return
            if "t200" not in c:
                c["t200"] = stamp
                to = (_header(data, b"To", b"t") or b"").decode()
                m = re.search(r";\s*tag=([^;>\s]+)", to)
                c["to_tag"] = m.group(1) if m else ""
                contact = (_header(data, b"Contact", b"m") or b"").decode()
                m = re.search(r"<([^>]+)>", contact) or re.search(r"(sip:[^;\s]+)", contact)
                c["target"] = m.group(1) if m else f"sip:211@{HOST}:{self.remote[1]}"
                c["bye_at"] = now + self.hold
            self._send(self._in_dialog(c, "ACK", 1, "a"))
        elif method == "BYE" and code >= 200:
            c["done"] = True
            if code >= 300:
                c["error"] = f"BYE answered {code}"

    def _launch(self, n, now):
        """Send call n's INVITE; its send time is taken just before sendto()."""
        c = {"id": f"bench{self.tag}x{n}", "n": 0, "k": n}
        c["next"] = now + self.T1
        c["interval"] = self.T1
        self.state[c["id"]] = c
        c["invite"] = self._invite(c)
        c["t0"] = time.time_ns()
        self._send(c["invite"])
        c["launched"] = now
        return c

    def _timers(self, c, now):
        """Retransmit the INVITE (timer A), send the BYE when due, retransmit it
        (timer E); when call c next needs attention (None: it is over)."""
        if "t200" not in c:
            if now >= c["next"]:
                if now - c["launched"] > 64 * self.T1:
                    c["error"], c["done"] = "no final response to INVITE", True
                    return None
                self._send(c["invite"])
                c["retrans"] = c.get("retrans", 0) + 1
                c["interval"] = min(c["interval"] * 2, 4.0)
                c["next"] = now + c["interval"]
            return c["next"]
        if "bye" not in c:
            if now >= c["bye_at"]:
                c["bye"] = self._in_dialog(c, "BYE", 2, "b")
                self._send(c["bye"])
                c["bye_next"], c["bye_int"], c["bye_sent"] = now + self.T1, self.T1, now
            return c.get("bye_next", c["bye_at"])
        if now >= c["bye_next"]:
            if now - c["bye_sent"] > 64 * self.T1:
                c["error"], c["done"] = "no response to BYE", True
                return None
            self._send(c["bye"])
            c["bye_int"] = min(c["bye_int"] * 2, 4.0)
            c["bye_next"] = now + c["bye_int"]
        return c["bye_next"]

    def run(self):
        start = time.monotonic()
        launched = 0
        deadline = start + self.calls / self.rate + self.hold + 40
        while time.monotonic() < deadline:
            now = time.monotonic()
            while launched < self.calls and now >= start + launched / self.rate:
                self._launch(launched, now)
                launched += 1
            pending = [c for c in self.state.values() if not c.get("done")]
            if launched == self.calls and not pending:
                break
            wake = start + launched / self.rate if launched < self.calls else now + 0.1
            for c in pending:
                at = self._timers(c, now)
                if at is not None:
                    wake = min(wake, at)
            timeout = max(0.0, min(wake, deadline) - time.monotonic())
            r, _, _ = select.select([self.s], [], [], timeout)
            if r:
                for _ in range(256):
                    try:
                        data, stamp = self._recv()
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    self._handle(data, stamp, time.monotonic())
        calls = list(self.state.values())
        lat = sorted((c["t200"] - c["t0"]) / 1e6 for c in calls if "t200" in c)
        errors = {}
        for c in calls:
            reason = c.get("error") or ("engine hung up first" if c.get("engine_bye") else None)
            if not c.get("done"):
                reason = "unfinished"
            if reason:
                errors[reason] = errors.get(reason, 0) + 1
        return {
            "calls": self.calls,
            "launched": launched,
            "answered": len(lat),
            "failed": sum(errors.values()),
            "errors": errors,
            "invite_retransmissions": sum(c.get("retrans", 0) for c in calls),
            "p50_ms": round(percentile(lat, 50), 3) if lat else None,
            "p90_ms": round(percentile(lat, 90), 3) if lat else None,
            "p99_ms": round(percentile(lat, 99), 3) if lat else None,
            "max_ms": round(lat[-1], 3) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 3) if lat else None,
            "seconds": round(time.monotonic() - start, 1),
        }


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100)
    return sorted_values[int(k) - 1]


# ---------------------------------------------------------------- screen pops
#
# The screen-pop benchmark (`pop`): one navigator, as two clients of the
# engine: a SIP phone over UDP (registered with digest authentication) and
# the CTI websocket of their screen. A caller places one call at a time; each
# is routed straight to the navigator's centre and offered to them: the phone
# gets an INVITE, the screen a `call_offered` frame. All three live in this
# one process, so their times are on one clock: the INVITE's send time (just
# before sendto()) and the kernel's receive timestamps (SO_TIMESTAMPNS, on the
# UDP and the TCP socket alike) of the phone's INVITE and of the frame.

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def _recv_stamped(s, size=65535):
    """recvmsg() with the kernel's receive timestamp: (data, ns, address)."""
    data, anc, _, addr = s.recvmsg(size, socket.CMSG_SPACE(16))
    stamp = time.time_ns()
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
            sec, nsec = struct.unpack("qq", raw[:16])
            stamp = sec * 1_000_000_000 + nsec
    return data, stamp, addr


_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type"}


def _sip_parse(data):
    """(first line, [(name, value)] in order, body) of a SIP message."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded line
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


def _sip_values(headers, name):
    """Every value of header `name` (long or compact form)."""
    return [v for n, v in headers if _COMPACT.get(n.lower(), n.lower()) == name]


def _sip_response(headers, code, reason, to_tag=None, extra=(), body=""):
    """A response to the request whose headers are given (RFC 3261 §8.2.6)."""
    out = [f"SIP/2.0 {code} {reason}"]
    for name, value in headers:
        key = _COMPACT.get(name.lower(), name.lower())
        if key == "to" and to_tag and not re.search(r";\s*tag=", value, re.I):
            value = f"{value};tag={to_tag}"
        if key in ("via", "from", "to", "call-id", "cseq"):
            out.append(f"{name}: {value}")
    out.extend(extra)
    out.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode()


_DIGEST_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _digest_params(value):
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    for m in re.finditer(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme.lower(), params


def digest_authorization(challenge, method, uri, user, password, nc=1):
    """The Authorization value answering a Digest challenge (RFC 2617, RFC 3261
    §22.4; SHA-256 per RFC 8760): with qop=auth when the challenge offers it,
    else the RFC 2069 form."""
    _, p = _digest_params(challenge)
    algorithm = p.get("algorithm", "MD5")
    hash_of = _DIGEST_HASHES[algorithm.upper()]

    def h(text):
        return hash_of(text.encode()).hexdigest()

    realm, nonce = p["realm"], p["nonce"]
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    qops = [q.strip().lower() for q in p.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = os.urandom(8).hex()
        response = h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={algorithm}", "qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
        parts += [f'response="{response}"', f"algorithm={algorithm}"]
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(parts)


class Phone:
    """A navigator's SIP phone over UDP. It REGISTERs as USER (digest
    authentication), answers every INVITE at once (180, then 200 with a PCMU
    answer pointing at MEDIA, retransmitted until the ACK), answers BYE,
    CANCEL, OPTIONS and any other request with 200, and ignores ACKs and
    stray responses. Requests are answered where they came from: the engine
    sends them to the address the REGISTER came from."""

    T1 = 0.5

    def __init__(self, engine_port, user, password, media):
        self.remote = (HOST, engine_port)
        self.user, self.password, self.media = user, password, media
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.s.bind((HOST, 0))
        self.lport = self.s.getsockname()[1]
        self.contact = f"sip:{user}@{HOST}:{self.lport}"
        self.tag = f"ph{os.getpid()}{random.randrange(1 << 30)}"
        self.invites = []  # (kernel receive time in ns, Call-ID), in arrival order
        self.calls = {}  # Call-ID -> the call's state
        self.responses = []  # responses to our REGISTERs
        self.errors = {}

    def fileno(self):
        return self.s.fileno()

    def _error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1

    def busy(self):
        """A call is up or ringing."""
        return any(not c["ended"] for c in self.calls.values())

    def register(self, seconds=10):
        """REGISTER until a 200 (answering 401/407 challenges); raises if none."""
        uri = f"sip:{HOST}:{self.remote[1]}"
        call_id = f"reg{self.tag}@{HOST}"
        deadline = time.monotonic() + seconds
        auth, cseq, challenges = None, 0, 0
        while time.monotonic() < deadline:
            cseq += 1
            lines = [
                f"REGISTER {uri} SIP/2.0",
                f"Via: SIP/2.0/UDP {HOST}:{self.lport};branch=z9hG4bK{self.tag}r{cseq};rport",
                "Max-Forwards: 70",
                f"From: <sip:{self.user}@{HOST}>;tag={self.tag}",
                f"To: <sip:{self.user}@{HOST}>",
                f"Call-ID: {call_id}",
                f"CSeq: {cseq} REGISTER",
                f"Contact: <{self.contact}>",
                "Expires: 3600",
                "User-Agent: frontdoor-bench",
            ]
            if auth:
                lines.append(f"Authorization: {auth}")
            request = ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()
            self.s.sendto(request, self.remote)
            answer, resend = None, time.monotonic() + self.T1
            while answer is None and time.monotonic() < deadline:
                if time.monotonic() >= resend:  # timer E, on loopback
                    self.s.sendto(request, self.remote)
                    resend = time.monotonic() + self.T1
                r, _, _ = select.select([self.s], [], [], max(0.0, min(resend, deadline) - time.monotonic()))
                if r:
                    self.on_readable()
                while self.responses and answer is None:
                    first, headers = self.responses.pop(0)
                    cs = (_sip_values(headers, "cseq") or [""])[0].split()
                    if cs and cs[0] == str(cseq) and not first.startswith("SIP/2.0 1"):
                        answer = (int(first.split()[1]), first, headers)
            if answer is None:
                break
            code, first, headers = answer
            if code == 200:
                return
            if code not in (401, 407) or challenges >= 3:
                raise RuntimeError(f"REGISTER answered {first!r}")
            challenges += 1
            name = "www-authenticate" if code == 401 else "proxy-authenticate"
            offers = [v for v in _sip_values(headers, name) if _digest_params(v)[0] == "digest"]
            usable = [v for v in offers if _digest_params(v)[1].get("algorithm", "MD5").upper() in _DIGEST_HASHES]
            if not usable:
                raise RuntimeError(f"REGISTER: no digest challenge we can answer: {offers}")
            auth = digest_authorization(usable[0], "REGISTER", uri, self.user, self.password)
        raise RuntimeError(f"REGISTER: no 200 from 127.0.0.1:{self.remote[1]} within {seconds} s")

    def _answer_sdp(self, offer):
        te = re.search(rb"a=rtpmap:(\d+) telephone-event/8000", offer)
        pt = te.group(1).decode() if te else None
        sdp = (
            f"v=0\r\no=navigator 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
            f"m=audio {self.media} RTP/AVP 0{' ' + pt if pt else ''}\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        if pt:
            sdp += f"a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
        return sdp + "a=ptime:20\r\na=sendrecv\r\n"

    def on_readable(self):
        try:
            data, stamp, addr = _recv_stamped(self.s)
        except (BlockingIOError, ConnectionRefusedError):
            return
        first, headers, body = _sip_parse(data)
        if first.startswith("SIP/2.0 "):
            self.responses.append((first, headers))
            return
        method = first.split(" ", 1)[0]
        call_id = (_sip_values(headers, "call-id") or [""])[0]
        c = self.calls.get(call_id)
        now = time.monotonic()
        if method == "INVITE":
            if c is not None:  # a retransmission: our last response again
                self.s.sendto(c["last"], c["addr"])
                return
            tag = f"{self.tag}c{len(self.calls)}"
            contact = f"Contact: <{self.contact}>"
            ringing = _sip_response(headers, 180, "Ringing", tag, [contact])
            ok = _sip_response(headers, 200, "OK", tag, [contact, "Content-Type: application/sdp"], self._answer_sdp(body))
            self.s.sendto(ringing, addr)
            self.s.sendto(ok, addr)
            c = {"t_invite": stamp, "addr": addr, "last": ok, "acked": False, "ended": False,
                 "resend": now + self.T1, "interval": self.T1, "sent": now}
            self.calls[call_id] = c
            self.invites.append((stamp, call_id))
        elif method == "ACK":
            if c is not None:
                c["acked"] = True
        elif method == "BYE":
            self.s.sendto(_sip_response(headers, 200, "OK"), addr)
            if c is not None:
                c["ended"] = True
        elif method == "CANCEL":
            # Every INVITE is answered at once, so a CANCEL finds it answered
            # (RFC 3261 §9.2: 200 to the CANCEL only); the call ends with a BYE.
            self.s.sendto(_sip_response(headers, 200, "OK"), addr)
            self._error("offer cancelled")
        else:
            self.s.sendto(_sip_response(headers, 200, "OK"), addr)

    def tick(self, now):
        """Retransmit 200s not yet ACKed (RFC 3261 §13.3.1.4); the next time due."""
        wake = None
        for c in self.calls.values():
            if c["acked"] or c["ended"]:
                continue
            if now >= c["resend"]:
                if now - c["sent"] > 64 * self.T1:
                    c["ended"] = True
                    self._error("no ACK for the 200")
                    continue
                self.s.sendto(c["last"], c["addr"])
                c["interval"] = min(c["interval"] * 2, 4.0)
                c["resend"] = now + c["interval"]
            wake = c["resend"] if wake is None else min(wake, c["resend"])
        return wake


class Screen:
    """A navigator's CTI screen: POST /api/login, then the websocket
    GET /cti/ws?token=… (RFC 6455: the handshake, masked client frames,
    unmasked server frames of any length, fragments, ping/pong). Keeps every
    text frame as (kernel receive time of the data that completed it, JSON)."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, http_port, user, password, timeout=10):
        conn = http.client.HTTPConnection(HOST, http_port, timeout=timeout)
        conn.request("POST", "/api/login", json.dumps({"username": user, "password": password}),
                     {"Content-Type": "application/json"})
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        if answer.status != 200:
            raise RuntimeError(f"login as {user}: HTTP {answer.status} {body[:200]!r}")
        token = json.loads(body)["token"]
        self.s = socket.create_connection((HOST, http_port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(
            (f"GET /cti/ws?token={token} HTTP/1.1\r\nHost: {HOST}:{http_port}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise RuntimeError("websocket: the server closed the connection during the handshake")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        if not re.match(r"HTTP/1\.1 101\b", lines[0]):
            raise RuntimeError(f"websocket upgrade refused: {lines[0]}")
        fields = {n.strip().lower(): v.strip() for n, _, v in (ln.partition(":") for ln in lines[1:])}
        accept = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        if fields.get("sec-websocket-accept") != accept:
            raise RuntimeError("websocket: wrong Sec-WebSocket-Accept")
        # Blocking from here on, but read only when select() says so.
        self.s.settimeout(None)
        self.buf = bytearray(rest)
        self.stamp = time.time_ns()
        self.message = None  # (opcode, bytearray) of a fragmented message
        self.frames = []
        self.state = None
        self._parse()

    def fileno(self):
        return self.s.fileno()

    def _send_frame(self, opcode, payload):
        head = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head.append(0x80 | n)
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        head += mask
        self.s.sendall(bytes(head) + bytes(b ^ mask[i & 3] for i, b in enumerate(payload)))

    def send(self, obj):
        self._send_frame(0x1, json.dumps(obj).encode())

    def on_readable(self):
        data, stamp, _ = _recv_stamped(self.s)
        if not data:
            raise ConnectionError("websocket: the server closed the connection")
        self.buf += data
        self.stamp = stamp
        self._parse()

    def _parse(self):
        buf = self.buf
        while len(buf) >= 2:
            fin, opcode, masked, n = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x80, buf[1] & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            mask = b""
            if masked:  # servers must not mask; unmask anyway
                mask, pos = bytes(buf[pos : pos + 4]), pos + 4
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            del buf[: pos + n]
            if opcode == 0x9:
                self._send_frame(0xA, payload)
            elif opcode == 0x8:
                raise ConnectionError(f"websocket closed by the server: {payload[2:]!r}")
            elif opcode in (0x0, 0x1, 0x2):
                if opcode:
                    self.message = (opcode, bytearray())
                if self.message is None:
                    continue
                self.message[1].extend(payload)
                if fin:
                    kind, body = self.message
                    self.message = None
                    if kind == 0x1:
                        self._frame(json.loads(body.decode()))

    def _frame(self, obj):
        self.frames.append((self.stamp, obj))
        if obj.get("type") == "state_changed":
            self.state = obj.get("state")
        elif obj.get("type") == "hello":
            self.state = (obj.get("state") or {}).get("state")

    def find(self, start, kind, call_id=None):
        """The first frame of `kind` (for `call_id`) from index `start` on."""
        for stamp, obj in self.frames[start:]:
            if obj.get("type") == kind and (call_id is None or obj.get("call_id") == call_id):
                return stamp, obj
        return None


class PopCaller(LatencyCaller):
    """The screen-pop caller: one call at a time (sip:211 from an Ottawa
    number), ACK, BYE HOLD_MS after the engine's 200."""

    def __init__(self, port, hold_ms, media):
        super().__init__(port, 1, 1, hold_ms, media)

    def fileno(self):
        return self.s.fileno()

    def on_readable(self):
        try:
            data, stamp = self._recv()
        except (BlockingIOError, ConnectionRefusedError):
            return
        self._handle(data, stamp, time.monotonic())


def _pump(parties, timers, done, seconds):
    """Serve the sockets and timers until done() or SECONDS; whether done()."""
    deadline = time.monotonic() + seconds
    while not done():
        now = time.monotonic()
        if now >= deadline:
            return False
        wake = deadline
        for timer in timers:
            at = timer(now)
            if at is not None:
                wake = min(wake, at)
        r, _, _ = select.select(parties, [], [], max(0.0, wake - time.monotonic()))
        for party in r:
            party.on_readable()
    return True


def _summary(values):
    v = sorted(values)
    if not v:
        return {"p50_ms": None, "p90_ms": None, "min_ms": None, "max_ms": None, "mean_ms": None}
    return {
        "p50_ms": round(percentile(v, 50), 3),
        "p90_ms": round(percentile(v, 90), 3),
        "min_ms": round(v[0], 3),
        "max_ms": round(v[-1], 3),
        "mean_ms": round(statistics.fmean(v), 3),
    }


def pop(sip_port, http_port, user, password, calls, hold_ms, media):
    """CALLS sequential calls offered to one ready navigator; per call the time
    from the caller's INVITE to the screen's call_offered and to the phone's
    INVITE. A navigator who is not ready again 5 s after a call is set ready."""
    start = time.monotonic()
    out = {"calls": calls, "completed": 0, "failed": 0, "errors": {}}
    per_call = []
    errors = out["errors"]

    def error(what):
        errors[what] = errors.get(what, 0) + 1

    try:
        phone = Phone(sip_port, user, password, media)
        phone.register()
        screen = Screen(http_port, user, password)
        caller = PopCaller(sip_port, hold_ms, media)
        parties = [phone, screen, caller]
        if not _pump(parties, [], lambda: screen.find(0, "hello"), 5):
            raise RuntimeError("websocket: no hello within 5 s")
        screen.send({"type": "set_state", "id": "ready-start", "state": "ready"})
        if not _pump(parties, [phone.tick], lambda: screen.state == "ready", 5):
            raise RuntimeError(f"the navigator did not become ready (state {screen.state})")
        set_ready = 0
        for n in range(calls):
            idle = lambda: screen.state == "ready" and not phone.busy()  # noqa: E731
            if not _pump(parties, [phone.tick], idle, 5):
                set_ready += 1
                screen.send({"type": "set_state", "id": f"ready-{n}", "state": "ready"})
                if not _pump(parties, [phone.tick], idle, 5):
                    error(f"navigator not ready before a call (state {screen.state}, phone busy {phone.busy()})")
                    break
            # A quiet moment between calls: nothing else in flight.
            _pump(parties, [phone.tick], lambda: False, 0.1)
            frames, invites = len(screen.frames), len(phone.invites)
            c = caller._launch(n, time.monotonic())
            _pump(parties, [phone.tick, lambda now: caller._timers(c, now)], lambda: c.get("done"), hold_ms / 1000 + 40)
            offered = screen.find(frames, "call_offered")
            call_id = offered[1].get("call_id") if offered else None
            # The navigator's side of the hang-up: the screen's call_ended and
            # the engine's BYE to the phone.
            _pump(parties, [phone.tick],
                  lambda: (call_id is None or screen.find(frames, "call_ended", call_id)) and not phone.busy(), 5)
            r = {"answer_ms": (c["t200"] - c["t0"]) / 1e6 if "t200" in c else None}
            if offered:
                r["pop_ms"] = (offered[0] - c["t0"]) / 1e6
                r["previous_contacts"] = len(offered[1].get("previous_contacts") or [])
            if len(phone.invites) > invites:
                r["ring_ms"] = (phone.invites[invites][0] - c["t0"]) / 1e6
            if offered and "ring_ms" in r:
                r["pop_minus_ring_ms"] = r["pop_ms"] - r["ring_ms"]
            problems = []
            if not c.get("done"):
                problems.append("caller: unfinished")
            elif c.get("error"):
                problems.append(f"caller: {c['error']}")
            elif c.get("engine_bye"):
                problems.append("caller: the engine hung up first")
            if not offered:
                problems.append("no call_offered on the screen")
            if "ring_ms" not in r:
                problems.append("no INVITE to the phone")
            if call_id and not screen.find(frames, "call_answered", call_id):
                problems.append("no call_answered on the screen")
            if call_id and not screen.find(frames, "call_ended", call_id):
                problems.append("no call_ended on the screen")
            for p in problems:
                error(p)
            r["ok"] = not problems
            per_call.append(r)
        out["set_ready_sent"] = set_ready
        for what, count in phone.errors.items():
            errors[f"phone: {what}"] = errors.get(f"phone: {what}", 0) + count
    except Exception as e:  # noqa: BLE001 -- reported with the calls done so far
        error(f"{type(e).__name__}: {e}")
    out["completed"] = sum(1 for r in per_call if r["ok"])
    out["failed"] = calls - out["completed"]
    for key in ("pop", "ring", "pop_minus_ring", "answer"):
        out[key] = _summary([r[f"{key}_ms"] for r in per_call if r.get(f"{key}_ms") is not None])
    out["previous_contacts_max"] = max((r.get("previous_contacts", 0) for r in per_call), default=0)
    out["pop_ms"] = [round(r["pop_ms"], 3) if "pop_ms" in r else None for r in per_call]
    out["ring_ms"] = [round(r["ring_ms"], 3) if "ring_ms" in r else None for r in per_call]
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


class NumberedCaller(LatencyCaller):
    """The loaded screen pop's callers: call k comes from its own number
    (+1 613 555 followed by 1000 + k), so each pop is matched to its call by
    the `caller` of `call_offered`."""

    def number(self, c):
        return f"+1613555{1000 + c['k']:04d}"

    def fileno(self):
        return self.s.fileno()

    def on_readable(self):
        for _ in range(64):
            try:
                data, stamp = self._recv()
            except (BlockingIOError, ConnectionRefusedError):
                return
            self._handle(data, stamp, time.monotonic())


def pop_load(sip_port, http_port, prefix, password, navigators, rate, calls, hold_ms, media):
    """The screen pop under load: NAVIGATORS navigators (PREFIX001…), each
    with a registered phone that answers at once and a CTI websocket, all
    ready; CALLS calls placed at RATE calls/s, each hanging up HOLD_MS after
    its 200. Per call, the time from the caller's INVITE to its call_offered
    frame (the kernel receive time on whichever navigator's socket it came)."""
    start = time.monotonic()
    out = {"navigators": navigators, "rate_cps": rate, "calls": calls, "completed": 0, "failed": 0,
           "errors": {}}
    errors = out["errors"]

    def error(what, n=1):
        errors[what] = errors.get(what, 0) + n

    per_call = {}
    try:
        users = [f"{prefix}{i:03d}" for i in range(1, navigators + 1)]
        phones = []
        for user in users:
            phone = Phone(sip_port, user, password, media)
            phone.register()
            phones.append(phone)
        screens = [Screen(http_port, user, password) for user in users]
        caller = NumberedCaller(sip_port, rate, calls, hold_ms, media)
        parties = phones + screens + [caller]
        out["setup_s"] = round(time.monotonic() - start, 1)
        ticks = [p.tick for p in phones]
        if not _pump(parties, ticks, lambda: all(sc.find(0, "hello") for sc in screens), 10):
            raise RuntimeError("websocket: no hello on every screen within 10 s")
        for i, sc in enumerate(screens):
            sc.send({"type": "set_state", "id": f"ready-{i}", "state": "ready"})
        if not _pump(parties, ticks, lambda: all(sc.state == "ready" for sc in screens), 10):
            raise RuntimeError(f"not every navigator became ready: {sum(sc.state == 'ready' for sc in screens)} of {navigators}")
        _pump(parties, ticks, lambda: False, 0.5)
        marks = [len(sc.frames) for sc in screens]
        t_start = time.monotonic()
        launched = []

        def timers(now):
            wake = None
            while len(launched) < calls and now >= t_start + len(launched) / rate:
                launched.append(caller._launch(len(launched), now))
            if len(launched) < calls:
                wake = t_start + len(launched) / rate
            for c in launched:
                if not c.get("done"):
                    at = caller._timers(c, now)
                    if at is not None:
                        wake = at if wake is None else min(wake, at)
            return wake

        def finished():
            return len(launched) == calls and all(c.get("done") for c in launched)

        _pump(parties, ticks + [timers], finished, calls / rate + hold_ms / 1000 + 40)
        def seen():
            offered, ended = {}, set()
            for sc, mark in zip(screens, marks):
                for stamp, obj in sc.frames[mark:]:
                    if obj.get("type") == "call_offered":
                        offered.setdefault(obj.get("caller"), (stamp, obj.get("call_id")))
                    elif obj.get("type") == "call_ended":
                        ended.add(obj.get("call_id"))
            return offered, ended

        def all_ended():
            offered, ended = seen()
            return not any(p.busy() for p in phones) and all(cid in ended for _, cid in offered.values())

        # The navigators' side of the last hang-ups: the phones' BYEs and
        # every offered call's call_ended.
        _pump(parties, ticks, all_ended, 5)
        offered, ended = seen()
        for c in launched:
            r = {}
            got = offered.get(caller.number(c))
            problems = []
            if not c.get("done"):
                problems.append("caller: unfinished")
            elif c.get("error"):
                problems.append(f"caller: {c['error']}")
            elif c.get("engine_bye"):
                problems.append("caller: the engine hung up first")
            if got is None:
                problems.append("no call_offered on any screen")
            else:
                r["pop_ms"] = (got[0] - c["t0"]) / 1e6
                if got[1] not in ended:
                    problems.append("no call_ended on the screen")
            if "t200" in c:
                r["answer_ms"] = (c["t200"] - c["t0"]) / 1e6
            for p in problems:
                error(p)
            r["ok"] = not problems
            per_call[c["k"]] = r
        out["launched"] = len(launched)
        out["call_seconds"] = round(time.monotonic() - t_start, 1)
        out["phone_invites"] = sum(len(p.invites) for p in phones)
        out["navigators_used"] = sum(1 for p in phones if p.invites)
        out["frames_per_screen_mean"] = round(
            statistics.fmean(len(sc.frames) - m for sc, m in zip(screens, marks)), 1)
        for p in phones:
            for what, count in p.errors.items():
                error(f"phone: {what}", count)
    except Exception as e:  # noqa: BLE001 -- reported with the calls done so far
        error(f"{type(e).__name__}: {e}")
    out["completed"] = sum(1 for r in per_call.values() if r["ok"])
    out["failed"] = calls - out["completed"]
    pops = sorted(r["pop_ms"] for r in per_call.values() if "pop_ms" in r)
    out["pop"] = _summary(pops)
    out["pop"]["p99_ms"] = round(percentile(pops, 99), 3) if pops else None
    out["pop"]["n"] = len(pops)
    out["answer"] = _summary([r["answer_ms"] for r in per_call.values() if "answer_ms" in r])
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


# ---------------------------------------------------------------- the desk page
#
# The page benchmark (`page`): the same navigator, phone and caller as `pop`,
# but the navigator's screen is the real desk page (GET /) in headless
# Chromium, driven through chromedriver over the W3C WebDriver HTTP protocol.
# The page itself sets User Timing marks: `pop-received:<call_id>` when it
# handles a call_offered frame and `pop-painted:<call_id>` in the next
# animation frame after rendering the pop; `draft-sent:<id>` and
# `draft-acked:<id>` around each save_draft command. Those are read back with
# performance.getEntriesByType('mark'), so both figures are on the page's own
# clock (performance.now()). The phone and the callers are served by a thread
# of this process while the main thread talks to chromedriver.

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element key
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    "--window-size=1366,768",
]


class WebDriverError(RuntimeError):
    pass


class WebDriver:
    """A tiny W3C WebDriver client (chromedriver) over urllib: a session,
    navigate, find an element, click, send keys, execute/sync, execute/async."""

    def __init__(self, port):
        self.base = f"http://{HOST}:{port}"
        self.session = None
        # Never through a proxy the environment may name: this is loopback.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method, path, body=None, timeout=120):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                value = json.loads(raw).get("value") or {}
            except ValueError:
                raise WebDriverError(f"{method} {path}: HTTP {e.code} {raw[:200]!r}") from None
            message = str(value.get("message", "")).split("\n")[0][:300]
            raise WebDriverError(f"{method} {path}: {value.get('error')}: {message}") from None
        return json.loads(raw or b"{}").get("value")

    def wait_ready(self, seconds):
        """Whether the driver said ready within SECONDS."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if (self.call("GET", "/status", timeout=2) or {}).get("ready"):
                    return True
            except (OSError, WebDriverError, ValueError):
                pass
            time.sleep(0.1)
        return False

    def new_session(self, capabilities):
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = value["sessionId"]
        return value.get("capabilities", {})

    def _s(self, method, path, body=None, timeout=120):
        return self.call(method, f"/session/{self.session}{path}", body, timeout)

    def timeouts(self, script_ms, page_load_ms):
        self._s("POST", "/timeouts", {"script": script_ms, "pageLoad": page_load_ms})

    def navigate(self, url):
        self._s("POST", "/url", {"url": url})

    def find(self, css):
        return self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, element):
        self._s("POST", f"/element/{element}/click", {})

    def send_keys(self, element, text):
        self._s("POST", f"/element/{element}/value", {"text": text})

    def execute(self, script, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def execute_async(self, script, *args):
        return self._s("POST", "/execute/async", {"script": script, "args": list(args)})

    def browser_log(self):
        """The page's console messages since the last call (chromedriver's
        own extension; [] where it is not offered)."""
        try:
            return self._s("POST", "/se/log", {"type": "browser"}, timeout=10) or []
        except (OSError, WebDriverError):
            return []

    def quit(self):
        if self.session:
            try:
                self._s("DELETE", "", timeout=30)
            finally:
                self.session = None


# In-page scripts. The page's Content-Security-Policy forbids eval, so each
# is a whole script text (WebDriver runs it outside that policy).

_WAIT_JS = """
const done = arguments[arguments.length - 1];
const end = performance.now() + arguments[0];
const cond = () => { try { return (%s); } catch (e) { return null; } };
(function poll() {
  const v = cond();
  if (v) done({ok: true, value: v});
  else if (performance.now() > end) done({ok: false, value: v});
  else setTimeout(poll, 20);
})();
"""

# Waits (without polling: a PerformanceObserver) for the pop-painted mark of
# a call not in arguments[0]; returns both marks' times. The observer's
# callback runs after the marks are set, so it is not inside the interval.
_POP_MARKS_JS = """
const [seen, timeoutMs, done] = arguments;
const known = new Set(seen);
let finished = false, obs = null, timer = null;
function find() {
  for (const m of performance.getEntriesByType('mark')) {
    if (!m.name.startsWith('pop-painted:')) continue;
    const id = m.name.slice('pop-painted:'.length);
    if (known.has(id)) continue;
    const r = performance.getEntriesByName('pop-received:' + id, 'mark');
    const p = performance.getEntriesByName('pop-painted:' + id, 'mark');
    if (r.length) return {call_id: id, received: r[0].startTime, painted: p[0].startTime,
                          received_count: r.length, painted_count: p.length};
  }
  return null;
}
function finish(v) {
  if (finished) return;
  finished = true;
  if (obs) obs.disconnect();
  clearTimeout(timer);
  done(v);
}
const now = find();
if (now) finish(now);
else {
  obs = new PerformanceObserver((list) => {
    if (list.getEntries().some((e) => e.name.startsWith('pop-painted:'))) {
      const f = find();
      if (f) finish(f);
    }
  });
  obs.observe({type: 'mark'});
  timer = setTimeout(() => finish(null), timeoutMs);
}
"""

# One draft save: changes the notes of the open log (an input event, as
# typing makes), then waits for the save_draft it causes (~400 ms later,
# debounced) to be acknowledged; returns both marks' times.
_DRAFT_JS = """
const [text, timeoutMs, done] = arguments;
const sentBefore = new Set(performance.getEntriesByType('mark')
  .filter((m) => m.name.startsWith('draft-sent:')).map((m) => m.name));
let finished = false, obs = null, timer = null;
function find() {
  for (const m of performance.getEntriesByType('mark')) {
    if (!m.name.startsWith('draft-sent:') || sentBefore.has(m.name)) continue;
    const id = m.name.slice('draft-sent:'.length);
    const a = performance.getEntriesByName('draft-acked:' + id, 'mark');
    if (a.length) return {id, sent: m.startTime, acked: a[0].startTime};
  }
  return null;
}
function finish(v) {
  if (finished) return;
  finished = true;
  if (obs) obs.disconnect();
  clearTimeout(timer);
  done(v);
}
obs = new PerformanceObserver((list) => {
  if (list.getEntries().some((e) => e.name.startsWith('draft-acked:'))) {
    const f = find();
    if (f) finish(f);
  }
});
obs.observe({type: 'mark'});
timer = setTimeout(() => finish({timeout: true,
  status: (document.getElementById('draft-status') || {}).textContent || ''}), timeoutMs);
const notes = document.getElementById('notes');
notes.value = text;
notes.dispatchEvent(new Event('input', {bubbles: true}));
"""

# The animation-frame interval of this headless window (median of 30): the
# pop-painted mark is set in the frame after the pop is rendered, so the
# figure includes waiting for that frame.
_FRAME_JS = """
const done = arguments[arguments.length - 1];
const t = [];
function f(ts) {
  t.push(ts);
  if (t.length < 31) requestAnimationFrame(f);
  else {
    const d = t.slice(1).map((v, i) => v - t[i]).sort((a, b) => a - b);
    done(d[Math.floor(d.length / 2)]);
  }
}
requestAnimationFrame(f);
"""


def _page_waiter(wd):
    """wait_page(EXPR, SECONDS, WHAT): EXPR's value once the page makes it
    truthy; a RuntimeError naming WHAT (and the page's first words) when it
    does not within SECONDS."""
    def wait_page(expr, seconds, what):
        r = wd.execute_async(_WAIT_JS % expr, int(seconds * 1000))
        if not r or not r.get("ok"):
            body = wd.execute("return document.body ? document.body.innerText.slice(0, 300) : ''")
            raise RuntimeError(f"the page never showed {what} within {seconds} s (page: {body!r})")
        return r["value"]
    return wait_page


class SipThread(threading.Thread):
    """Serves the phone's and the callers' sockets and timers in the
    background: the phone answers at once while the main thread waits on
    chromedriver. Everything it touches is guarded by `lock`."""

    def __init__(self, phone, callers):
        super().__init__(daemon=True)
        self.phone, self.callers = phone, callers
        self.calls = []  # (caller, call) not yet done
        self.lock = threading.Lock()
        self.wake_r, self.wake_w = os.pipe()
        self.stopping = False
        self.failure = None

    def _nudge(self):
        os.write(self.wake_w, b"x")

    def launch(self, caller, n):
        with self.lock:
            c = caller._launch(n, time.monotonic())
            self.calls.append((caller, c))
        self._nudge()
        return c

    def hang_up(self, c):
        """The caller's BYE now (once the call is answered)."""
        with self.lock:
            if "t200" in c and "bye" not in c:
                c["bye_at"] = time.monotonic()
        self._nudge()

    def phone_busy(self):
        with self.lock:
            return self.phone.busy()

    def invites(self):
        with self.lock:
            return len(self.phone.invites)

    def stop(self):
        self.stopping = True
        self._nudge()
        self.join(5)

    def run(self):
        try:
            while not self.stopping:
                with self.lock:
                    now = time.monotonic()
                    wake = now + 0.2
                    at = self.phone.tick(now)
                    if at is not None:
                        wake = min(wake, at)
                    for caller, c in self.calls:
                        if not c.get("done"):
                            at = caller._timers(c, now)
                            if at is not None:
                                wake = min(wake, at)
                    self.calls = [(k, c) for k, c in self.calls if not c.get("done")]
                r, _, _ = select.select([self.phone, *self.callers, self.wake_r], [], [],
                                        max(0.0, wake - time.monotonic()))
                with self.lock:
                    for party in r:
                        if party is self.wake_r:
                            os.read(self.wake_r, 4096)
                        else:
                            party.on_readable()
        except Exception as e:  # noqa: BLE001 -- reported by the main thread
            self.failure = f"{type(e).__name__}: {e}"


def _summary_p99(values):
    v = sorted(values)
    if not v:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "min_ms": None, "max_ms": None,
                "mean_ms": None, "n": 0}
    return {
        "p50_ms": round(percentile(v, 50), 3),
        "p90_ms": round(percentile(v, 90), 3),
        "p99_ms": round(percentile(v, 99), 3),
        "min_ms": round(v[0], 3),
        "max_ms": round(v[-1], 3),
        "mean_ms": round(statistics.fmean(v), 3),
        "n": len(v),
    }


def page(sip_port, http_port, user, password, calls, hold_ms, media, driver_port, profile, saves):
    """The desk page in headless Chromium: CALLS sequential calls offered to
    the navigator (pop-received -> pop-painted per call), then one more call
    whose log takes SAVES draft saves one after another (draft-sent ->
    draft-acked per save)."""
    start = time.monotonic()
    out = {"calls": calls, "completed": 0, "failed": 0, "saves": saves, "saves_failed": 0, "errors": {}}
    errors = out["errors"]
    per_call, rtts = [], []

    def error(what):
        errors[what] = errors.get(what, 0) + 1

    wd = WebDriver(driver_port)
    sip = None

    wait_page = _page_waiter(wd)

    def console(where):
        for entry in wd.browser_log():
            level = entry.get("level", "")
            if level in ("SEVERE", "WARNING"):
                text = re.sub(r"\d+", "N", str(entry.get("message", "")))[:200]
                error(f"page console {level.lower()} ({where}): {text}")

    try:
        if not wd.wait_ready(15):
            raise RuntimeError(f"chromedriver on 127.0.0.1:{driver_port} not ready within 15 s")
        caps = wd.new_session({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium",
                                   "args": CHROMIUM_ARGS + [f"--user-data-dir={profile}"]},
            "goog:loggingPrefs": {"browser": "ALL"},
        })
        out["browser_version"] = caps.get("browserVersion")
        out["chromedriver_version"] = str((caps.get("chrome") or {}).get("chromedriverVersion", "")).split(" ")[0] or None
        wd.timeouts(60000, 30000)

        phone = Phone(sip_port, user, password, media)
        phone.register()
        caller = PopCaller(sip_port, hold_ms, media)
        # The draft call is held until the saves are done (then hung up).
        long_caller = PopCaller(sip_port, 600_000, media)
        sip = SipThread(phone, [caller, long_caller])
        sip.start()

        t0 = time.monotonic()
        wd.navigate(f"http://{HOST}:{http_port}/")
        wait_page("!document.getElementById('login-view').hidden && document.getElementById('login-form')",
                  10, "the login form")
        wd.send_keys(wd.find("#username"), user)
        wd.send_keys(wd.find("#password"), password)
        wd.click(wd.find("#login-submit"))
        wait_page("window.frontdoorDesk && window.frontdoorDesk.ready === true", 15, "the desk connected")
        wd.click(wd.find("#btn-ready"))
        wait_page("window.frontdoorDesk.state && window.frontdoorDesk.state.state === 'ready'", 10,
                  "the navigator ready")
        out["login_to_ready_s"] = round(time.monotonic() - t0, 2)
        out["frame_interval_ms"] = round(float(wd.execute_async(_FRAME_JS)), 3)
        console("login")

        ready_js = "window.frontdoorDesk.state && window.frontdoorDesk.state.state === 'ready'"

        def make_ready(n):
            """Ready and the phone free, clicking Ready once if need be."""
            end = time.monotonic() + 5
            while time.monotonic() < end:
                if wd.execute(f"return !!({ready_js})") and not sip.phone_busy():
                    return True
                time.sleep(0.05)
            out["ready_clicks"] = out.get("ready_clicks", 0) + 1
            wd.click(wd.find("#btn-ready"))
            end = time.monotonic() + 5
            while time.monotonic() < end:
                if wd.execute(f"return !!({ready_js})") and not sip.phone_busy():
                    return True
                time.sleep(0.05)
            state = wd.execute("return window.frontdoorDesk.state && window.frontdoorDesk.state.state")
            error(f"navigator not ready before call {n} (page state {state}, phone busy {sip.phone_busy()})")
            return False

        seen = []

        def offer(the_caller, n):
            """Places call n; the caller's call and the page's marks (or None)."""
            invites = sip.invites()
            c = sip.launch(the_caller, n)
            marks = wd.execute_async(_POP_MARKS_JS, seen, 10000)
            if marks:
                seen.append(marks["call_id"])
            else:
                # Marks that come late must not be taken for the next call's.
                seen.extend(wd.execute(
                    "return performance.getEntriesByType('mark').map((m) => m.name)"
                    ".filter((n) => n.startsWith('pop-received:') || n.startsWith('pop-painted:'))"
                    ".map((n) => n.slice(n.indexOf(':') + 1))"))
            if sip.invites() <= invites:
                # The phone may still be about to ring: a moment more.
                end = time.monotonic() + 2
                while sip.invites() <= invites and time.monotonic() < end:
                    time.sleep(0.01)
            return c, marks, sip.invites() > invites

        for n in range(calls):
            if sip.failure:
                raise RuntimeError(f"SIP thread: {sip.failure}")
            if not make_ready(n):
                break
            time.sleep(0.1)  # a quiet moment between calls
            c, marks, rang = offer(caller, n)
            end = time.monotonic() + hold_ms / 1000 + 40
            while not c.get("done") and time.monotonic() < end:
                time.sleep(0.02)
            problems = []
            r = {}
            if marks:
                r["paint_ms"] = marks["painted"] - marks["received"]
                if marks["received_count"] > 1 or marks["painted_count"] > 1:
                    error("a call offered twice to the page (marks set more than once)")
            else:
                problems.append("no pop-received/pop-painted marks in the page within 10 s")
            if not rang:
                problems.append("no INVITE to the phone")
            if not c.get("done"):
                problems.append("caller: unfinished")
            elif c.get("error"):
                problems.append(f"caller: {c['error']}")
            elif c.get("engine_bye"):
                problems.append("caller: the engine hung up first")
            for p in problems:
                error(p)
            r["ok"] = not problems
            per_call.append(r)
        console("pops")

        # The draft saves, on the log of one more call, held while they go.
        if saves and make_ready(calls):
            time.sleep(0.1)
            c, marks, rang = offer(long_caller, calls)
            if not marks:
                error("draft call: no pop marks in the page within 10 s")
            else:
                wait_page(f"!document.getElementById('log-form').hidden && window.frontdoorDesk.lastPop "
                          f"&& window.frontdoorDesk.lastPop.call_id === {json.dumps(marks['call_id'])}",
                          10, "the call's log form open")
                for i in range(saves):
                    d = wd.execute_async(_DRAFT_JS, f"bench draft {i + 1}: the caller asked about housing help", 10000)
                    if d and "acked" in d:
                        rtts.append(d["acked"] - d["sent"])
                    else:
                        out["saves_failed"] += 1
                        error(f"draft not acknowledged within 10 s (draft status: {(d or {}).get('status')!r})")
                        if out["saves_failed"] >= 3:
                            break
            # Hang up (the 200 has come by now, unless the call failed).
            end = time.monotonic() + 5
            while "t200" not in c and not c.get("done") and time.monotonic() < end:
                time.sleep(0.02)
            sip.hang_up(c)
            end = time.monotonic() + 40
            while not c.get("done") and time.monotonic() < end:
                time.sleep(0.02)
            if not c.get("done"):
                error("draft call: caller unfinished")
            elif c.get("error"):
                error(f"draft call: caller: {c['error']}")
            console("drafts")
        with sip.lock:
            for what, count in phone.errors.items():
                errors[f"phone: {what}"] = errors.get(f"phone: {what}", 0) + count
        if sip.failure:
            error(f"SIP thread: {sip.failure}")
    except Exception as e:  # noqa: BLE001 -- reported with the calls done so far
        error(f"{type(e).__name__}: {e}")
    finally:
        try:
            wd.quit()
        except Exception as e:  # noqa: BLE001
            error(f"closing the browser: {type(e).__name__}: {e}")
        if sip is not None:
            sip.stop()
    out["completed"] = sum(1 for r in per_call if r["ok"])
    out["failed"] = calls - out["completed"]
    out["saves_failed"] = saves - len(rtts)
    out["pop_paint"] = _summary_p99([r["paint_ms"] for r in per_call if "paint_ms" in r])
    out["draft_rtt"] = _summary_p99(rtts)
    out["pop_paint_ms"] = [round(r["paint_ms"], 3) if "paint_ms" in r else None for r in per_call]
    out["draft_rtt_ms"] = [round(v, 3) for v in rtts]
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


# ---------------------------------------------------------------- the browser phone
#
# The navigator's desk in headless Chromium is their only phone (WebRTC to
# the engine's gateway); its fake microphone says a 1,000 Hz tone from a
# WAV file. Each caller (PopCaller, one call at a time) talks too: a
# 440 Hz tone, 20 ms PCMU packets, from a socket of this process that also
# hears the caller's side. Per call: the pop-received -> phone-ringing
# marks (the page rings with the pop), the phone-answer -> phone-audio-in
# marks (the caller's first packet reaches the browser; the page polls
# getStats every 5 ms), the phone-answer mark -> the first 20 ms frame the
# caller's socket hears carrying the navigator's tone (wall clocks: the
# page's performance.timeOrigin + now, this process's time.time()), and
# the engine's CPU while the call talks against a window with the phone
# connected and no call (/proc, whole ticks).

PHONE_TONE_HZ, CALLER_TONE_HZ = 1000.0, 440.0


def _ulaw_to_linear(u):
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


_ULAW = [_ulaw_to_linear(u) for u in range(256)]


def _linear_to_ulaw(x):
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    exponent = max(0, x.bit_length() - 8)
    mantissa = (x >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _goertzel(samples, hz, rate=8000):
    """The amplitude of HZ in SAMPLES."""
    k = 2.0 * math.cos(2.0 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return 2.0 * math.sqrt(max(power, 0.0)) / len(samples)


def tone_wav(path, hz, seconds, rate=48000):
    """A mono 16-bit WAV of a sine (Chromium's fake microphone plays it)."""
    import wave
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            frames += struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
        w.writeframes(bytes(frames))


class Voice(threading.Thread):
    """The caller's audio: latches on the engine's first packet, then says
    CALLER_TONE_HZ every 20 ms; notes when the navigator's tone is first
    heard after `arm()`."""

    def __init__(self):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind((HOST, 0))
        self.s.settimeout(0.005)
        self.port = self.s.getsockname()[1]
        self.engine = None
        self.armed = False
        self.heard_at = None
        self.stopping = False
        self.frames = []
        for f in range(50):
            pcm = [int(8000 * math.sin(2 * math.pi * CALLER_TONE_HZ * (f * 160 + i) / 8000)) for i in range(160)]
            self.frames.append(bytes(_linear_to_ulaw(x) for x in pcm))

    def arm(self):
        self.heard_at, self.armed = None, True

    def run(self):
        seq, ts, nxt = 0, 0, time.monotonic()
        while not self.stopping:
            try:
                data, addr = self.s.recvfrom(2048)
                at = time.time()
                if len(data) > 12 and data[1] & 0x7F == 0:
                    if self.engine != addr:
                        self.engine = addr
                    if self.armed and self.heard_at is None:
                        pcm = [_ULAW[b] for b in data[12:]]
                        if pcm and _goertzel(pcm, PHONE_TONE_HZ) > 1000:
                            self.heard_at = at
            except (socket.timeout, BlockingIOError, ConnectionRefusedError):
                pass
            now = time.monotonic()
            if self.engine and now >= nxt:
                packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x0CA11E12)
                try:
                    self.s.sendto(packet + self.frames[seq % 50], self.engine)
                except OSError:
                    pass
                seq, ts = seq + 1, ts + 160
                nxt = max(nxt + 0.02, now - 0.1)


class CallerThread(threading.Thread):
    """Serves one PopCaller's socket and timers in the background."""

    def __init__(self, caller):
        super().__init__(daemon=True)
        self.caller, self.calls, self.lock = caller, [], threading.Lock()
        self.stopping, self.failure = False, None

    def launch(self, n):
        with self.lock:
            c = self.caller._launch(n, time.monotonic())
            self.calls.append(c)
        return c

    def run(self):
        try:
            while not self.stopping:
                with self.lock:
                    now = time.monotonic()
                    wake = now + 0.05
                    for c in self.calls:
                        if not c.get("done"):
                            at = self.caller._timers(c, now)
                            if at is not None:
                                wake = min(wake, at)
                r, _, _ = select.select([self.caller], [], [], max(0.0, wake - time.monotonic()))
                if r:
                    with self.lock:
                        self.caller.on_readable()
        except Exception as e:  # noqa: BLE001 -- reported by the main thread
            self.failure = f"{type(e).__name__}: {e}"


_PHONE_MARKS_JS = """
const [callId, names, timeoutMs, done] = arguments;
const end = performance.now() + timeoutMs;
(function poll() {
  const got = {};
  for (const n of names) {
    const m = performance.getEntriesByName(n + ':' + callId, 'mark');
    if (m.length) got[n] = m[0].startTime;
  }
  if (Object.keys(got).length === names.length || performance.now() > end) {
    done({marks: got, origin: performance.timeOrigin});
  } else setTimeout(poll, 10);
})();
"""


def phone_page(sip_port, http_port, user, password, calls, window_s, driver_port, profile, wav, engine_pid):
    """CALLS calls, one after another, ringing the navigator's browser phone;
    each answered by a click, talked over for WINDOW_S (the engine's CPU),
    then hung up from the page."""
    start = time.monotonic()
    out = {"calls": calls, "errors": {}}
    errors = out["errors"]
    ring, audio_in, audio_out, cpu_talk = [], [], [], []

    def error(what):
        errors[what] = errors.get(what, 0) + 1

    wd = WebDriver(driver_port)
    voice = Voice()
    caller = PopCaller(sip_port, 600_000, voice.port)
    sip = CallerThread(caller)

    wait_page = _page_waiter(wd)

    def cpu(seconds):
        a = proc(engine_pid)
        time.sleep(seconds)
        b = proc(engine_pid)
        return 100.0 * (b["cpu_ticks"] - a["cpu_ticks"]) / CLK_TCK / (b["at"] - a["at"])

    try:
        tone_wav(wav, PHONE_TONE_HZ, 120)
        if not wd.wait_ready(15):
            raise RuntimeError(f"chromedriver on 127.0.0.1:{driver_port} not ready within 15 s")
        caps = wd.new_session({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": CHROMIUM_ARGS + [
                f"--user-data-dir={profile}", "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required", f"--use-file-for-fake-audio-capture={wav}"]},
        })
        out["browser_version"] = caps.get("browserVersion")
        wd.timeouts(60000, 30000)
        voice.start()
        sip.start()
        wd.navigate(f"http://{HOST}:{http_port}/")
        wait_page("!document.getElementById('login-view').hidden && document.getElementById('login-form')",
                  10, "the login form")
        wd.send_keys(wd.find("#username"), user)
        wd.send_keys(wd.find("#password"), password)
        wd.click(wd.find("#login-submit"))
        wait_page("window.frontdoorDesk && window.frontdoorDesk.ready === true", 15, "the desk connected")
        # The headset cleans up its own sound: the browser's processing off
        # (noise suppression takes a steady tone away).
        wd.execute("const box = document.getElementById('phone-processing'); box.checked = false; "
                   "box.dispatchEvent(new Event('change'));")
        t0 = time.monotonic()
        wd.click(wd.find("#phone-enable"))
        wait_page("window.frontdoorPhone.status === 'connected'", 15, "the browser phone connected")
        out["phone_connect_ms"] = round((time.monotonic() - t0) * 1000, 1)
        ready_js = "window.frontdoorDesk.state && window.frontdoorDesk.state.state === 'ready'"
        time.sleep(1)
        out["cpu_idle_percent"] = round(cpu(window_s), 2)
        for n in range(calls):
            if sip.failure:
                raise RuntimeError(f"caller thread: {sip.failure}")
            if not wd.execute(f"return !!({ready_js})"):
                wd.click(wd.find("#btn-ready"))
            wait_page(ready_js, 10, "the navigator ready")
            c = sip.launch(n)
            call_id = wait_page("window.frontdoorPhone.ringing", 15, "the browser phone ringing")
            r = wd.execute_async(_PHONE_MARKS_JS, call_id, ["pop-received", "phone-ringing"], 5000)
            m = r["marks"]
            if "phone-ringing" in m and "pop-received" in m:
                ring.append(m["phone-ringing"] - m["pop-received"])
            else:
                error("no pop-received/phone-ringing marks")
            voice.arm()
            wd.click(wd.find("#phone-answer"))
            r = wd.execute_async(_PHONE_MARKS_JS, call_id, ["phone-answer", "phone-audio-in"], 5000)
            m, origin = r["marks"], r["origin"]
            if "phone-audio-in" in m and "phone-answer" in m:
                audio_in.append(m["phone-audio-in"] - m["phone-answer"])
            else:
                error("no caller audio reached the browser within 5 s")
            end = time.monotonic() + 5
            while voice.heard_at is None and time.monotonic() < end:
                time.sleep(0.01)
            if voice.heard_at is not None and "phone-answer" in m:
                audio_out.append(voice.heard_at * 1000 - (origin + m["phone-answer"]))
            else:
                error("the caller did not hear the navigator within 5 s")
            time.sleep(0.5)
            cpu_talk.append(cpu(window_s))
            wd.click(wd.find("#btn-hangup"))
            end = time.monotonic() + 10
            while not c.get("done") and time.monotonic() < end:
                time.sleep(0.02)
            if not c.get("done"):
                error("the call did not end after the page hung up")
            elif c.get("error"):
                error(f"caller: {c['error']}")
    except Exception as e:  # noqa: BLE001 -- reported with the calls done so far
        error(f"{type(e).__name__}: {e}")
    finally:
        try:
            wd.quit()
        except Exception as e:  # noqa: BLE001
            error(f"closing the browser: {type(e).__name__}: {e}")
        sip.stopping = voice.stopping = True
    out["ring"] = _summary_p99(ring)
    out["audio_in"] = _summary_p99(audio_in)
    out["audio_out"] = _summary_p99(audio_out)
    out["cpu_talking_percent"] = round(statistics.median(cpu_talk), 2) if cpu_talk else None
    out["completed"] = len(audio_out)
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


# ---------------------------------------------------------------- RTP sink


# ---------------------------------------------------------------- processes


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        fds = -1
    threads = len(os.listdir(f"/proc/{pid}/task"))
    return {"rss_kib": rss, "fds": fds, "cpu_ticks": ticks, "threads": threads,
            "udp_mem_kib": udp_mem_kib(), "at": time.monotonic()}


def udp_mem_kib():
    """The kernel's memory in UDP socket objects of the whole machine (the
    `UDP` and `UDPv6` slabs of /proc/slabinfo: active objects × object
    size), KiB; None when unreadable. Its growth with N calls up, over N,
    is the kernel's share of a call beside the engine's RSS (the sockets'
    queues are near empty: the engine reads its sockets promptly)."""
    total = 0
    try:
        with open("/proc/slabinfo") as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] in ("UDP", "UDPv6"):
                    total += int(fields[1]) * int(fields[3])
    except (OSError, ValueError, IndexError):
        return None
    return total // 1024


def sample(pid, seconds, other=None):
    """CPU% (of one core), RSS, file descriptors and threads of PID over
    SECONDS; CPU% of OTHER (the load generator) too."""
    a = proc(pid)
    oa = proc(other) if other else None
    t0 = time.monotonic()
    time.sleep(seconds)
    b = proc(pid)
    ob = proc(other) if other else None
    dt = time.monotonic() - t0
    out = {
        "cpu_percent": round(100.0 * (b["cpu_ticks"] - a["cpu_ticks"]) / CLK_TCK / dt, 1),
        "rss_kib": b["rss_kib"],
        "fds": b["fds"],
        "threads": b["threads"],
        "udp_mem_kib": b["udp_mem_kib"],
        "window_s": round(dt, 2),
    }
    if other:
        out["sipp_cpu_percent"] = round(100.0 * (ob["cpu_ticks"] - oa["cpu_ticks"]) / CLK_TCK / dt, 1)
    return out


# ---------------------------------------------------------------- sipp files


def sipp_stat(path):
    with open(path) as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    head = lines[0].split(";")
    last = lines[-1].split(";")
    row = dict(zip(head, last))

    def num(key):
        try:
            return int(row.get(key, "0") or 0)
        except ValueError:
            return 0

    failures = {}
    for key in head:
        if key.startswith("Failed") and key.endswith("(C)") and key != "FailedCall(C)" and num(key):
            failures[key[len("Failed") : -3]] = num(key)
    return {
        "created": num("TotalCallCreated"),
        "successful": num("SuccessfulCall(C)"),
        "failed": num("FailedCall(C)"),
        "current": num("CurrentCall"),
        "retransmissions": num("Retransmissions(C)"),
        "out_of_call_msgs": num("OutOfCallMsgs(C)"),
        "dead_call_msgs": num("DeadCallMsgs(C)"),
        "watchdog_major": num("WatchdogMajor(C)"),
        "failures": failures,
    }


def sipp_acks(path):
    try:
        with open(path) as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    except OSError:
        return 0
    if len(lines) < 2:
        return 0
    head = lines[0].split(";")
    last = lines[-1].split(";")
    for i, key in enumerate(head):
        if key.endswith("_ACK_Sent") and i < len(last):
            try:
                return int(last[i])
            except ValueError:
                return 0
    return 0


def rtt(path):
    at, resp = [], []
    with open(path) as f:
        next(f, None)
        for line in f:
            parts = line.strip().split(";")
            if len(parts) >= 2:
                try:
                    at.append(float(parts[0]))
                    resp.append(float(parts[1]))
                except ValueError:
                    pass
    resp.sort()
    out = {"answered": len(at)}
    if len(at) >= 2 and max(at) > min(at):
        out["answer_rate"] = round((len(at) - 1) * 1000.0 / (max(at) - min(at)), 1)
    if resp:
        out["sipp_p50_ms"] = percentile(resp, 50)
        out["sipp_p99_ms"] = percentile(resp, 99)
        out["sipp_max_ms"] = resp[-1]
    return out


# ---------------------------------------------------------------- logs


def logscan(path):
    counts, examples = {}, {}
    try:
        f = open(path, errors="replace")
    except OSError:
        return {"warn": 0, "error": 0, "examples": []}
    with f:
        for line in f:
            try:
                obj = json.loads(line)
                level = str(obj.get("level", "")).upper()
                fields = obj.get("fields", {})
                msg = str(fields.get("message", ""))
                detail = {k: v for k, v in fields.items() if k != "message"}
                key = f"{level} {obj.get('target', '')}: {msg} {json.dumps(detail, sort_keys=True) if detail else ''}".strip()
            except (ValueError, AttributeError):
                level = "WARN" if "WARN" in line else "ERROR" if ("ERROR" in line or "panic" in line) else ""
                key = line.strip()[:300]
            if level not in ("WARN", "ERROR"):
                continue
            counts[level] = counts.get(level, 0) + 1
            # Group by message (strip numbers so one message with many values is one line).
            group = re.sub(r"\d+", "N", key)[:300]
            if group not in examples:
                examples[group] = [key[:400], 0]
            examples[group][1] += 1
    top = sorted(examples.values(), key=lambda e: -e[1])[:8]
    return {
        "warn": counts.get("WARN", 0),
        "error": counts.get("ERROR", 0),
        "examples": [{"count": n, "first": first} for first, n in top],
    }


# ---------------------------------------------------------------- verdicts


def judge_step(rate, calls, hold_ms, sipp_rc, stat_path, rtt_path, probe, engine_alive, log_path,
               max_retrans_percent, cpu0, cpu1):
    """Whether a rate step was clean, and why not: no failed call, fewer
    retransmitted SIP messages than max_retrans_percent of those sipp sent
    (INVITE, ACK, BYE per call), every call's RTP stream complete (no packet
    lost, no frame skipped by a late engine), no warning or error logged."""
    out = {"rate_cps": rate, "calls": calls, "sipp_exit": sipp_rc}
    reasons = []
    try:
        st = sipp_stat(stat_path)
    except (OSError, IndexError, StopIteration):
        st = {"successful": 0, "failed": 0, "failures": {}}
        reasons.append("no sipp statistics")
    out.update({k: st.get(k) for k in ("successful", "failed", "retransmissions", "failures", "out_of_call_msgs")})
    try:
        out.update(rtt(rtt_path))
    except OSError:
        pass
    if st.get("failed"):
        detail = ", ".join(f"{k} {v}" for k, v in st["failures"].items())
        reasons.append(f"{st['failed']} failed calls ({detail})" if detail else f"{st['failed']} failed calls")
    if sipp_rc == 124 or sipp_rc == 137:
        reasons.append("sipp did not finish in time")
    elif sipp_rc not in (0, 1):
        reasons.append(f"sipp exited with {sipp_rc}")
    elif sipp_rc == 1 and not st.get("failed"):
        reasons.append("sipp reported failure (exit 1)")
    if st.get("successful", 0) < calls and not reasons:
        reasons.append(f"only {st.get('successful', 0)} of {calls} calls completed")
    sent = 3 * max(1, st.get("created", calls) or calls)
    out["retransmit_percent"] = round(100.0 * (st.get("retransmissions") or 0) / sent, 3)
    if out["retransmit_percent"] >= float(max_retrans_percent):
        reasons.append(f"{out['retransmit_percent']} % of sipp's messages retransmitted (answers later than 500 ms)")
    try:
        rtp = json.loads(probe)
    except ValueError:
        rtp = {}
        reasons.append("no report from the RTP probe")
    out["rtp"] = rtp
    packets = rtp.get("packets", 0)
    expected = max(1, st.get("successful", 0)) * hold_ms / 20.0
    out["rtp_packets_per_call"] = round(packets / max(1, st.get("successful", 0)), 1)
    out["rtp_ratio"] = round(packets / expected, 3)
    if st.get("successful") and out["rtp_ratio"] < 0.9:
        reasons.append(f"callers heard too little prompt: {out['rtp_ratio']:.0%} of the RTP packets expected")
    if rtp.get("lost") or rtp.get("seq_gaps"):
        reasons.append(f"RTP lost: {rtp.get('lost')} packets in {rtp.get('streams_with_gaps')} streams")
    if rtp.get("skipped_frames"):
        reasons.append(f"the engine woke late and skipped {rtp['skipped_frames']} frames")
    if out.get("answer_rate") and out["answer_rate"] < 0.9 * rate and calls >= 2 * rate:
        reasons.append(f"call rate not reached: {out['answer_rate']} calls/s answered")
    if not engine_alive:
        reasons.append("the engine exited")
    try:
        a, b = json.loads(cpu0), json.loads(cpu1)
        seconds = max(0.001, b["at"] - a["at"])
        out["engine_cpu_percent"] = round(100.0 * (b["cpu_ticks"] - a["cpu_ticks"]) / CLK_TCK / seconds, 1)
    except (ValueError, KeyError):
        pass
    out["engine_log"] = logscan(log_path)
    if out["engine_log"]["warn"] or out["engine_log"]["error"]:
        reasons.append(f"the engine logged {out['engine_log']['warn']} warnings and {out['engine_log']['error']} errors")
    out["clean"] = not reasons
    out["reasons"] = reasons
    return out


def aggregate(path):
    """Median of every numeric field over the runs, per figure."""
    groups = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                key = (obj["metric"], obj.get("concurrent_calls"), obj.get("bridged_pairs"))
                groups.setdefault(key, []).append(obj)
    for objs in groups.values():
        out = dict(objs[0])
        for k in out:
            values = [o.get(k) for o in objs]
            if k not in ("concurrent_calls", "bridged_pairs") and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                m = statistics.median(values)
                if all(isinstance(v, int) for v in values) and m == int(m):
                    m = int(m)
                out[k] = round(m, 3) if isinstance(m, float) else m
        out["runs"] = len(objs)
        if len(objs) > 1:
            out["samples"] = [o["value"] for o in objs]
        print(json.dumps(out))


TABLE_ROWS = [
    # (metric, concurrent_calls or None, label)
    ("max_call_rate_clean", None, "calls/s, clean (answered, 3 s of prompt, BYE; held per step)"),
    ("invite_200_latency_p50_ms", None, "INVITE→200 p50"),
    ("invite_200_latency_p99_ms", None, "INVITE→200 p99"),
    ("max_concurrent_calls_clean", None, "concurrent prompt-playing calls, p99 send interval ≤ 22 ms, 0 loss"),
    ("talking_max_concurrent_calls_clean", None, "the same with callers sending RTP"),
    ("max_bridged_pairs_clean", None, "bridged pairs (caller ⇄ engine ⇄ far end), 0 loss"),
    ("key_to_action_p50_ms", None, "key to action p50 (first RFC 4733 packet → the interrupted prompt's last packet)"),
    ("key_to_action_p99_ms", None, "key to action p99"),
    ("pop_latency_p50_ms", None, "screen pop p50 (one navigator, one call at a time)"),
    ("pop_latency_p90_ms", None, "screen pop p90"),
    ("pop_load_latency_p50_ms", None, "screen pop p50, navigators logged in and calls at a steady rate"),
    ("pop_load_latency_p99_ms", None, "screen pop p99, the same"),
    ("page_pop_paint_p99_ms", None, "desk page: pop painted p99"),
    ("phone_pop_to_ring_p50_ms", None, "browser phone: pop to the page ringing p50"),
    ("phone_answer_to_audio_in_p50_ms", None, "browser phone: answer to the caller's audio in the browser p50"),
    ("phone_answer_to_audio_out_p50_ms", None, "browser phone: answer to the navigator's voice at the caller p50"),
    ("phone_call_cpu_percent", None, "browser phone: engine CPU per call talking (DTLS-SRTP leg, bridge, caller)"),
]


def table(path):
    """A markdown table of the aggregated figures: the headline rows, then
    every concurrent-calls step."""
    figures = []
    with open(path) as f:
        for line in f:
            if line.strip():
                figures.append(json.loads(line))
    print("| figure | value | details |")
    print("| --- | --- | --- |")

    def fmt(v):
        return "—" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v}")

    for metric, _, label in TABLE_ROWS:
        for fig in figures:
            if fig["metric"] != metric:
                continue
            details = []
            for key in ("first_unclean_rate_cps", "first_unclean", "engine_cpu_percent", "retransmit_percent",
                        "interval_p99_ms", "rate_cps", "navigators", "calls", "failed", "keys_answered",
                        "to_next_p99_ms", "max_ms", "idle_percent", "talking_percent"):
                if fig.get(key) is not None:
                    details.append(f"{key} {fmt(fig[key])}")
            print(f"| {label} | **{fmt(fig['value'])} {fig.get('unit', '')}** | {', '.join(details)} |")
    for fig in figures:
        if fig["metric"].startswith("report_") and fig.get("backend"):
            print(f"| report {fig['kind']} over a year, {fig['backend']} | **{fmt(fig['value'])} ms** | "
                  f"{fmt(fig.get('calls'))} calls (generated in {fmt(fig.get('generate_s'))} s), "
                  f"runs {fig.get('runs_ms')} |")
    for fig in sorted(figures, key=lambda f: (f["metric"], f.get("concurrent_calls") or 0)):
        if fig["metric"] not in ("send_interval_p99_ms", "talking_send_interval_p99_ms"):
            continue
        n = fig.get("concurrent_calls")
        cpu = next((g["value"] for g in figures if g.get("concurrent_calls") == n
                    and g["metric"] == fig["metric"].replace("send_interval_p99_ms", "cpu_percent")), None)
        mem = next((g for g in figures if g.get("concurrent_calls") == n
                    and g["metric"] == fig["metric"].replace("send_interval_p99_ms", "rss_kib_per_call")), {})
        who = "callers sending RTP" if fig["metric"].startswith("talking") else "callers silent"
        print(f"| {fmt(n)} calls, {who} | p99 {fmt(fig['value'])} ms, max {fmt(fig.get('interval_max_ms'))} ms, "
              f"lost {fmt(fig.get('lost'))}, skipped {fmt(fig.get('skipped_frames'))} | "
              f"CPU {fmt(cpu)} %, RSS {fmt(mem.get('value'))} KiB/call + kernel UDP {fmt(mem.get('udp_mem_kib_per_call'))} KiB/call, "
              f"{'clean' if fig.get('clean') else 'not clean: ' + '; '.join(fig.get('reasons', []))} |")
    for fig in sorted(figures, key=lambda f: f.get("bridged_pairs") or 0):
        if fig["metric"] != "bridged_cpu_percent":
            continue
        n = fig.get("bridged_pairs")
        mem = next((g for g in figures if g.get("bridged_pairs") == n and g["metric"] == "bridged_rss_kib_per_pair"), {})
        print(f"| {fmt(n)} bridged pairs | CPU {fmt(fig['value'])} %, relayed {fmt(fig.get('relayed_percent'))} % "
              f"of what the ends sent, lost {fmt(fig.get('lost'))}, missing {fmt(fig.get('skipped_frames'))} | "
              f"relay interval p99 {fmt(fig.get('interval_p99_ms'))} ms, max {fmt(fig.get('interval_max_ms'))} ms, "
              f"RSS {fmt(mem.get('value'))} KiB/pair, "
              f"{'clean' if fig.get('clean') else 'not clean: ' + '; '.join(fig.get('reasons', []))} |")


# ---------------------------------------------------------------- directory

DIRECTORY_WORDS = [
    "food bank", "banque alimentaire", "emergency shelter", "hébergement d'urgence", "meals", "repas",
    "counselling", "santé mentale", "mental health", "rent", "aide au loyer", "legal aid",
    "aide juridique", "seniors", "aînés", "youth", "jeunes", "employment", "emploi", "medicaments",
    "dental", "addiction", "dépendance", "housing", "logement", "clothing", "vêtements",
    "transportation", "newcomers", "nouveaux arrivants",
]
DIRECTORY_REGIONS = ["east", "north", "central", "central_south", "toronto", "southwest"]


def directory_search(http_port, user, password, searches, seed):
    """Searches the directory one after another over one keep-alive
    connection, as a navigator's page does; each search's wall time from
    sending the request to reading the whole answer."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    body = json.dumps({"username": user, "password": password})
    conn.request("POST", "/api/login", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    token = json.loads(r.read())["token"]
    headers = {"Authorization": f"Bearer {token}"}
    times, counts, errors, anywhere = [], [], {}, []
    from urllib.parse import urlencode
    for i in range(searches):
        # As the desk sends them: near the caller's region unless the
        # navigator picks "anywhere" (one search in ten here).
        q = {"q": rng.choice(DIRECTORY_WORDS)}
        shape = rng.random()
        if shape < 0.9:
            q["near"] = "region:" + rng.choice(DIRECTORY_REGIONS)
        if rng.random() < 0.5:
            q["lang"] = rng.choice(["en", "fr"])
        if rng.random() < 0.5:
            q["open"] = "now"
        if 0.8 < shape < 0.9:
            q = {"code": rng.choice(["BD-1800", "BH-1800", "RP", "LV", "N"]),
                 "near": "region:" + rng.choice(DIRECTORY_REGIONS)}
        path = "/api/directory/search?" + urlencode(q)
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        data = r.read()
        times.append((time.perf_counter() - t0) * 1000)
        if "near" not in q:
            anywhere.append(times[-1])
        if r.status != 200:
            key = f"{r.status} {data[:100]!r}"
            errors[key] = errors.get(key, 0) + 1
            continue
        counts.append(len(json.loads(data)["results"]))
    v = sorted(times)
    out = _summary(times)
    out["p99_ms"] = round(percentile(v, 99), 3) if v else None
    a = sorted(anywhere)
    out["anywhere"] = {"searches": len(a), "p50_ms": round(percentile(a, 50), 3) if a else None,
                       "p99_ms": round(percentile(a, 99), 3) if a else None}
    out.update({"searches": searches, "errors": errors,
                "results_mean": round(statistics.fmean(counts), 1) if counts else None,
                "empty": sum(1 for c in counts if c == 0)})
    return out


# ---------------------------------------------------------------- main


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "free-port":
        even = "--even" in args
        span = int(args[args.index("--span") + 1]) if "--span" in args else 1
        print(free_port(even, span))
    elif cmd == "options-ping":
        return options_ping(int(args[0]), float(args[1]))
    elif cmd == "proc":
        print(json.dumps(proc(int(args[0]))))
    elif cmd == "sample":
        other = int(args[2]) if len(args) > 2 and args[2] else None
        print(json.dumps(sample(int(args[0]), float(args[1]), other)))
    elif cmd == "sipp-stat":
        print(json.dumps(sipp_stat(args[0])))
    elif cmd == "sipp-acks":
        print(sipp_acks(args[0]))
    elif cmd == "rtt":
        print(json.dumps(rtt(args[0])))
    elif cmd == "latency":
        port, rate, calls, hold, sink_port = int(args[0]), float(args[1]), int(args[2]), int(args[3]), int(args[4])
        print(json.dumps(LatencyCaller(port, rate, calls, hold, sink_port).run()))
    elif cmd == "pop":
        sip_port, http_port, user, password = int(args[0]), int(args[1]), args[2], args[3]
        result = pop(sip_port, http_port, user, password, int(args[4]), int(args[5]), int(args[6]))
        print(json.dumps(result))
        return 0 if result["failed"] == 0 else 1
    elif cmd == "pop-load":
        sip_port, http_port, prefix, password = int(args[0]), int(args[1]), args[2], args[3]
        result = pop_load(sip_port, http_port, prefix, password, int(args[4]), float(args[5]), int(args[6]),
                          int(args[7]), int(args[8]))
        print(json.dumps(result))
        return 0 if result["failed"] == 0 else 1
    elif cmd == "directory":
        result = directory_search(int(args[0]), args[1], args[2], int(args[3]), int(args[4]))
        print(json.dumps(result))
        return 0 if not result["errors"] else 1
    elif cmd == "driver-ready":
        return 0 if WebDriver(int(args[0])).wait_ready(float(args[1])) else 1
    elif cmd == "page":
        sip_port, http_port, user, password = int(args[0]), int(args[1]), args[2], args[3]
        result = page(sip_port, http_port, user, password, int(args[4]), int(args[5]), int(args[6]),
                      int(args[7]), args[8], int(args[9]))
        print(json.dumps(result))
        return 0 if result["failed"] == 0 and result["saves_failed"] == 0 and not result["errors"] else 1
    elif cmd == "phone":
        sip_port, http_port, user, password = int(args[0]), int(args[1]), args[2], args[3]
        result = phone_page(sip_port, http_port, user, password, int(args[4]), float(args[5]), int(args[6]),
                            args[7], args[8], int(args[9]))
        print(json.dumps(result))
        return 0 if result["completed"] == result["calls"] and not result["errors"] else 1
    elif cmd == "median":
        values = [float(v) for v in args if v not in ("", "null", "None")]
        print(json.dumps(statistics.median(values) if values else None))
    elif cmd == "judge-step":
        rate, calls, hold, rc = int(args[0]), int(args[1]), int(args[2]), int(args[3])
        verdict = judge_step(rate, calls, hold, rc, args[4], args[5], args[6], args[7] == "1", args[8],
                             args[9], args[10], args[11])
        print(json.dumps(verdict))
    elif cmd == "aggregate":
        aggregate(args[0])
    elif cmd == "table":
        table(args[0])
    elif cmd == "get":
        # get KEY JSON: one field of a JSON object, as text
        value = json.loads(args[1]).get(args[0])
        print("" if value is None else (json.dumps(value) if isinstance(value, (dict, list, bool)) else value))
    elif cmd == "logscan":
        print(json.dumps(logscan(args[0])))
    else:
        raise SystemExit(f"unknown helper {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

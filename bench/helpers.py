#!/usr/bin/env python3
"""Helpers for bench/run (Python 3 standard library only).

Subcommands (each prints one line, JSON unless stated):
  free-port [--even] [--span N]     a free port on 127.0.0.1 (UDP and TCP), as text
  options-ping PORT SECONDS         send OPTIONS until a 200 comes back; exit 1 if none
  sink PORT                         bind a UDP socket that never reads (the RTP sink)
  udp-rx PORT                       datagrams that reached the sink so far, as text
  proc PID                          {"rss_kib", "fds", "cpu_ticks"} of a process
  sample PID SECONDS SINK [PID2]    CPU% and RSS of PID over SECONDS, sink packets/s,
                                    CPU% of PID2 (sipp)
  sipp-stat STATFILE                the last line of a sipp -trace_stat file, summarised
  sipp-acks COUNTSFILE              ACKs sent so far, from a sipp -trace_counts file, as text
  rtt RTTFILE                       sipp -trace_rtt file: answer rate and response times
  latency PORT RATE CALLS HOLD_MS SINK
                                    place CALLS calls at RATE calls/s and time INVITE -> 200
  median NUMBER...                  median of the numbers given
  judge-step ...                    whether a rate step was clean (see judge_step)
  aggregate FILE                    medians over runs of the JSON lines in FILE
  get KEY JSON                      one field of a JSON object, as text
  logscan LOGFILE                   warnings and errors in a JSON-lines engine log
"""

import json
import os
import random
import re
import select
import socket
import statistics
import struct
import sys
import time

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
            f"From: <sip:+16135550199@{HOST}:{self.lport}>;tag=f{c['id']}\r\n"
            f"To: <sip:211@{HOST}:{self.remote[1]}>\r\n"
            f"Call-ID: {c['id']}@{HOST}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:+16135550199@{HOST}:{self.lport}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )

    def _in_dialog(self, c, method, cseq, branch):
        return (
            f"{method} {c['target']} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {HOST}:{self.lport};branch=z9hG4bK{c['id']}{branch};rport\r\n"
            f"From: <sip:+16135550199@{HOST}:{self.lport}>;tag=f{c['id']}\r\n"
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

    def run(self):
        start = time.monotonic()
        launched = 0
        deadline = start + self.calls / self.rate + self.hold + 40
        while time.monotonic() < deadline:
            now = time.monotonic()
            while launched < self.calls and now >= start + launched / self.rate:
                c = {"id": f"bench{self.tag}x{launched}", "n": 0}
                c["next"] = now + self.T1
                c["interval"] = self.T1
                self.state[c["id"]] = c
                c["invite"] = self._invite(c)
                c["t0"] = time.time_ns()
                self._send(c["invite"])
                c["launched"] = now
                launched += 1
            pending = [c for c in self.state.values() if not c.get("done")]
            if launched == self.calls and not pending:
                break
            wake = start + launched / self.rate if launched < self.calls else now + 0.1
            for c in pending:
                if "t200" not in c:
                    if now >= c["next"]:
                        if now - c["launched"] > 64 * self.T1:
                            c["error"], c["done"] = "no final response to INVITE", True
                            continue
                        self._send(c["invite"])
                        c["retrans"] = c.get("retrans", 0) + 1
                        c["interval"] = min(c["interval"] * 2, 4.0)
                        c["next"] = now + c["interval"]
                    wake = min(wake, c["next"])
                elif "bye" not in c:
                    if now >= c["bye_at"]:
                        c["bye"] = self._in_dialog(c, "BYE", 2, "b")
                        self._send(c["bye"])
                        c["bye_next"], c["bye_int"], c["bye_sent"] = now + self.T1, self.T1, now
                    wake = min(wake, c.get("bye_next", c["bye_at"]))
                else:
                    if now >= c["bye_next"]:
                        if now - c["bye_sent"] > 64 * self.T1:
                            c["error"], c["done"] = "no response to BYE", True
                            continue
                        self._send(c["bye"])
                        c["bye_int"] = min(c["bye_int"] * 2, 4.0)
                        c["bye_next"] = now + c["bye_int"]
                    wake = min(wake, c["bye_next"])
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


# ---------------------------------------------------------------- RTP sink


def sink(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # The smallest receive buffer: the kernel drops (and counts) nearly every
    # datagram at once, so this process costs nothing and never reads.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    s.bind((HOST, port))
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def udp_rx(port):
    """Datagrams that reached 127.0.0.1:port: dropped ones plus queued ones."""
    want = f"0100007F:{port:04X}"
    total = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want:
                rx_queue = int(fields[4].split(":")[1], 16)
                # Each queued datagram of 172 bytes takes about 1 KiB of buffer.
                total += int(fields[-1]) + rx_queue // 1024
    return total


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
    return {"rss_kib": rss, "fds": fds, "cpu_ticks": ticks, "threads": threads}


def sample(pid, seconds, sink_port, other=None):
    a, rx_a = proc(pid), udp_rx(sink_port)
    oa = proc(other) if other else None
    t0 = time.monotonic()
    time.sleep(seconds)
    b, rx_b = proc(pid), udp_rx(sink_port)
    ob = proc(other) if other else None
    dt = time.monotonic() - t0
    out = {
        "cpu_percent": round(100.0 * (b["cpu_ticks"] - a["cpu_ticks"]) / CLK_TCK / dt, 1),
        "rss_kib": b["rss_kib"],
        "fds": b["fds"],
        "threads": b["threads"],
        "rtp_pps": round((rx_b - rx_a) / dt, 1),
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


def judge_step(rate, calls, hold_ms, sipp_rc, stat_path, rtt_path, rtp_packets, engine_alive, log_path):
    """Whether a rate step was clean, and why not."""
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
    expected = max(1, st.get("successful", 0)) * hold_ms / 20.0
    out["rtp_packets_per_call"] = round(rtp_packets / max(1, st.get("successful", 0)), 1)
    out["rtp_ratio"] = round(rtp_packets / expected, 3)
    if st.get("successful") and out["rtp_ratio"] < 0.9:
        reasons.append(f"callers heard too little prompt: {out['rtp_ratio']:.0%} of the RTP packets expected")
    if out.get("answer_rate") and out["answer_rate"] < 0.9 * rate and calls >= 2 * rate:
        reasons.append(f"call rate not reached: {out['answer_rate']} calls/s answered")
    if not engine_alive:
        reasons.append("the engine exited")
    out["engine_log"] = logscan(log_path)
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
                key = (obj["metric"], obj.get("concurrent_calls"))
                groups.setdefault(key, []).append(obj)
    for objs in groups.values():
        out = dict(objs[0])
        for k in out:
            values = [o.get(k) for o in objs]
            if k != "concurrent_calls" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                m = statistics.median(values)
                if all(isinstance(v, int) for v in values) and m == int(m):
                    m = int(m)
                out[k] = round(m, 3) if isinstance(m, float) else m
        out["runs"] = len(objs)
        if len(objs) > 1:
            out["samples"] = [o["value"] for o in objs]
        print(json.dumps(out))


# ---------------------------------------------------------------- main


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "free-port":
        even = "--even" in args
        span = int(args[args.index("--span") + 1]) if "--span" in args else 1
        print(free_port(even, span))
    elif cmd == "options-ping":
        return options_ping(int(args[0]), float(args[1]))
    elif cmd == "sink":
        sink(int(args[0]))
    elif cmd == "udp-rx":
        print(udp_rx(int(args[0])))
    elif cmd == "proc":
        print(json.dumps(proc(int(args[0]))))
    elif cmd == "sample":
        other = int(args[3]) if len(args) > 3 and args[3] else None
        print(json.dumps(sample(int(args[0]), float(args[1]), int(args[2]), other)))
    elif cmd == "sipp-stat":
        print(json.dumps(sipp_stat(args[0])))
    elif cmd == "sipp-acks":
        print(sipp_acks(args[0]))
    elif cmd == "rtt":
        print(json.dumps(rtt(args[0])))
    elif cmd == "latency":
        port, rate, calls, hold, sink_port = int(args[0]), float(args[1]), int(args[2]), int(args[3]), int(args[4])
        print(json.dumps(LatencyCaller(port, rate, calls, hold, sink_port).run()))
    elif cmd == "median":
        values = [float(v) for v in args if v not in ("", "null", "None")]
        print(json.dumps(statistics.median(values) if values else None))
    elif cmd == "judge-step":
        rate, calls, hold, rc = int(args[0]), int(args[1]), int(args[2]), int(args[3])
        verdict = judge_step(rate, calls, hold, rc, args[4], args[5], int(args[6]), args[7] == "1", args[8])
        print(json.dumps(verdict))
    elif cmd == "aggregate":
        aggregate(args[0])
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

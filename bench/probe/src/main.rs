//! bench/run's RTP probe.
//!
//! `rtp-probe --port P [--echo] [--bind ADDR]` binds one UDP socket, to
//! which every bench caller's SDP points the engine's RTP, and reads every
//! packet that arrives: `recvmmsg` in batches, each packet with the
//! kernel's receive timestamp (`SO_TIMESTAMPNS`), so the probe's own
//! scheduling is not measured. Packets are grouped into streams by source
//! address and SSRC. For each stream it follows:
//!
//! - the interval between consecutive packets (on loopback, the engine's
//!   send interval): pooled into one histogram of 10 µs buckets;
//! - sequence numbers: a gap (a jump of more than one) and the packets it
//!   lost, a packet that comes late or twice;
//! - RTP timestamps: frames the sender skipped (its timestamp advanced
//!   more than its sequence number says, outside a new talkspurt's
//!   marker: the engine moved its frame schedule after waking late, and
//!   sent silence's worth of time instead of those frames).
//!
//! With `--echo` every packet is sent back where it came from, so each
//! call's engine also receives 50 packets a second, as from a caller who
//! talks.
//!
//! Control by signal: SIGUSR1 starts a new window (counts reset), SIGUSR2
//! prints the window so far as one JSON line on standard output, SIGTERM
//! and SIGINT print it and exit.

use std::collections::HashMap;
use std::io::Write;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

const BATCH: usize = 64;
const BUF: usize = 2048;
/// Histogram: 10 µs buckets up to 2 s; longer ones go to the last bucket.
/// Percentiles are read as their bucket's lower bound.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 200_000;

static RESET: AtomicBool = AtomicBool::new(false);
static REPORT: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    match signal {
        libc::SIGUSR1 => RESET.store(true, Ordering::SeqCst),
        libc::SIGUSR2 => REPORT.store(true, Ordering::SeqCst),
        _ => STOP.store(true, Ordering::SeqCst),
    }
}

/// One stream: a source address and an SSRC.
#[derive(Default)]
struct Stream {
    last_ns: u64,
    /// Extended (32-bit) sequence numbers: first and highest seen.
    first_seq: u64,
    max_seq: u64,
    received: u64,
    last_rtp_ts: u32,
    /// The timestamp step of one packet, learnt from the first in-order pair.
    ts_step: u32,
    gaps: u64,
    late_or_duplicate: u64,
    skipped_frames: u64,
    max_interval_us: u64,
}

struct Window {
    started: Instant,
    streams: HashMap<(u64, u32), Stream>,
    histogram: Vec<u64>,
    intervals: u64,
    packets: u64,
    not_rtp: u64,
    echoed: u64,
    echo_errors: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            started: Instant::now(),
            streams: HashMap::new(),
            histogram: vec![0; BUCKETS],
            intervals: 0,
            packets: 0,
            not_rtp: 0,
            echoed: 0,
            echo_errors: 0,
        }
    }

    fn packet(&mut self, source: u64, data: &[u8], at_ns: u64) {
        if data.len() < 12 || data[0] >> 6 != 2 {
            self.not_rtp += 1;
            return;
        }
        let pt = data[1] & 0x7f;
        let marker = data[1] & 0x80 != 0;
        if (72..=76).contains(&pt) {
            // RTCP on the RTP port (rtcp-mux): not a media packet.
            self.not_rtp += 1;
            return;
        }
        self.packets += 1;
        let seq = u16::from_be_bytes([data[2], data[3]]);
        let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        let s = self.streams.entry((source, ssrc)).or_default();
        if s.received == 0 {
            s.first_seq = u64::from(seq) + (1 << 16);
            s.max_seq = s.first_seq;
            s.received = 1;
            s.last_ns = at_ns;
            s.last_rtp_ts = ts;
            return;
        }
        s.received += 1;
        // Extend the 16-bit number next to the highest seen (RFC 3550 A.1).
        let base = s.max_seq & !0xffff;
        let mut ext = base | u64::from(seq);
        if ext + 0x8000 < s.max_seq {
            ext += 1 << 16;
        } else if ext > s.max_seq + 0x8000 {
            ext = ext.saturating_sub(1 << 16);
        }
        if ext <= s.max_seq {
            s.late_or_duplicate += 1;
            return;
        }
        let advance = ext - s.max_seq;
        if advance > 1 {
            s.gaps += 1;
        }
        let interval_us = at_ns.saturating_sub(s.last_ns) / 1_000;
        s.max_interval_us = s.max_interval_us.max(interval_us);
        let bucket = ((interval_us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.histogram[bucket] += 1;
        self.intervals += 1;
        let ts_delta = ts.wrapping_sub(s.last_rtp_ts);
        if advance == 1 && s.ts_step == 0 && ts_delta > 0 && ts_delta < 8000 {
            s.ts_step = ts_delta;
        }
        // A marker starts a new talkspurt, whose timestamp may leap (RFC 3551 §4.1).
        if s.ts_step > 0 && ts_delta < u32::MAX / 2 && !marker {
            let frames = u64::from(ts_delta / s.ts_step);
            s.skipped_frames += frames.saturating_sub(advance);
        }
        s.max_seq = ext;
        s.last_ns = at_ns;
        s.last_rtp_ts = ts;
    }

    fn percentile_us(&self, p: f64) -> f64 {
        if self.intervals == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.intervals as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return (i as u64 * BUCKET_US) as f64;
            }
        }
        ((BUCKETS as u64) * BUCKET_US) as f64
    }

    fn report(&self) -> String {
        let ms = |us: f64| (us / 10.0).round() / 100.0;
        let mut lost = 0u64;
        let mut gaps = 0u64;
        let mut late = 0u64;
        let mut skipped = 0u64;
        let mut with_gaps = 0u64;
        let mut worst_max = 0u64;
        let mut stream_maxes: Vec<u64> = Vec::with_capacity(self.streams.len());
        for s in self.streams.values() {
            let expected = s.max_seq + 1 - s.first_seq;
            lost += expected.saturating_sub(s.received.saturating_sub(s.late_or_duplicate));
            gaps += s.gaps;
            late += s.late_or_duplicate;
            skipped += s.skipped_frames;
            if s.gaps > 0 {
                with_gaps += 1;
            }
            worst_max = worst_max.max(s.max_interval_us);
            stream_maxes.push(s.max_interval_us);
        }
        stream_maxes.sort_unstable();
        let p99_of_stream_max = stream_maxes
            .get(((stream_maxes.len() as f64 * 0.99).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let seconds = self.started.elapsed().as_secs_f64();
        format!(
            concat!(
                "{{\"window_s\":{:.2},\"streams\":{},\"packets\":{},\"pps\":{:.0},\"intervals\":{},",
                "\"interval_p50_ms\":{},\"interval_p90_ms\":{},\"interval_p99_ms\":{},\"interval_p999_ms\":{},",
                "\"interval_max_ms\":{},\"stream_max_interval_p99_ms\":{},\"seq_gaps\":{},\"lost\":{},",
                "\"late_or_duplicate\":{},\"skipped_frames\":{},\"streams_with_gaps\":{},\"not_rtp\":{},",
                "\"echoed\":{},\"echo_errors\":{}}}"
            ),
            seconds,
            self.streams.len(),
            self.packets,
            self.packets as f64 / seconds.max(0.001),
            self.intervals,
            ms(self.percentile_us(50.0)),
            ms(self.percentile_us(90.0)),
            ms(self.percentile_us(99.0)),
            ms(self.percentile_us(99.9)),
            ms(worst_max as f64),
            ms(p99_of_stream_max as f64),
            gaps,
            lost,
            late,
            skipped,
            with_gaps,
            self.not_rtp,
            self.echoed,
            self.echo_errors,
        )
    }
}

fn fail(what: &str) -> ! {
    eprintln!("rtp-probe: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1);
}

fn usage() -> ! {
    eprintln!("usage: rtp-probe --port PORT [--bind 127.0.0.1] [--echo]");
    std::process::exit(2);
}

fn main() {
    let mut port: Option<u16> = None;
    let mut bind = Ipv4Addr::LOCALHOST;
    let mut echo = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()),
            "--bind" => {
                bind = args
                    .next()
                    .and_then(|a| a.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--echo" => echo = true,
            _ => usage(),
        }
    }
    let port = port.unwrap_or_else(|| usage());
    // SAFETY: plain libc calls on a socket this function owns; every
    // structure handed to the kernel is zeroed and sized as it expects.
    unsafe {
        for s in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT] {
            let mut action: libc::sigaction = zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(s, &action, std::ptr::null_mut());
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            fail("socket");
        }
        let on: libc::c_int = 1;
        const INT: libc::socklen_t = size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as *const _,
            INT,
        );
        // A deep receive queue: a burst of 5,000 streams must not overflow it.
        let want: libc::c_int = 64 << 20;
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &want as *const _ as *const _,
            INT,
        ) != 0
        {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                &want as *const _ as *const _,
                INT,
            );
        }
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout as *const _ as *const _,
            size_of::<libc::timeval>() as libc::socklen_t,
        );
        let addr = SocketAddrV4::new(bind, port);
        let mut sin: libc::sockaddr_in = zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        sin.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
        if libc::bind(
            fd,
            &sin as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ) != 0
        {
            fail(&format!("bind {addr}"));
        }

        let mut bufs = vec![[0u8; BUF]; BATCH];
        let mut controls = vec![[0u8; 64]; BATCH];
        let mut names: Vec<libc::sockaddr_in> = vec![zeroed(); BATCH];
        let mut iovs: Vec<libc::iovec> = vec![zeroed(); BATCH];
        let mut msgs: Vec<libc::mmsghdr> = vec![zeroed(); BATCH];
        let mut window = Window::new();
        let stdout = std::io::stdout();
        loop {
            if RESET.swap(false, Ordering::SeqCst) {
                window = Window::new();
            }
            if REPORT.swap(false, Ordering::SeqCst) {
                let mut out = stdout.lock();
                let _ = writeln!(out, "{}", window.report());
                let _ = out.flush();
            }
            if STOP.load(Ordering::SeqCst) {
                let mut out = stdout.lock();
                let _ = writeln!(out, "{}", window.report());
                let _ = out.flush();
                return;
            }
            for i in 0..BATCH {
                iovs[i] = libc::iovec {
                    iov_base: bufs[i].as_mut_ptr() as *mut _,
                    iov_len: BUF,
                };
                msgs[i].msg_hdr.msg_name = &mut names[i] as *mut _ as *mut _;
                msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                msgs[i].msg_hdr.msg_iov = &mut iovs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_control = controls[i].as_mut_ptr() as *mut _;
                msgs[i].msg_hdr.msg_controllen = controls[i].len() as _;
                msgs[i].msg_hdr.msg_flags = 0;
                msgs[i].msg_len = 0;
            }
            let n = libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            );
            if n <= 0 {
                continue; // the timeout (to look at the signals) or EINTR
            }
            let n = n as usize;
            for i in 0..n {
                let len = msgs[i].msg_len as usize;
                let mut at_ns = 0u64;
                let mut cmsg = libc::CMSG_FIRSTHDR(&msgs[i].msg_hdr);
                while !cmsg.is_null() {
                    if (*cmsg).cmsg_level == libc::SOL_SOCKET
                        && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                    {
                        let ts = std::ptr::read_unaligned(
                            libc::CMSG_DATA(cmsg) as *const libc::timespec
                        );
                        at_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
                    }
                    cmsg = libc::CMSG_NXTHDR(&msgs[i].msg_hdr, cmsg);
                }
                let name = names[i];
                let source = (u64::from(u32::from_be(name.sin_addr.s_addr)) << 16)
                    | u64::from(u16::from_be(name.sin_port));
                window.packet(source, &bufs[i][..len], at_ns);
            }
            if echo {
                // Send each packet back to its source in one sendmmsg.
                for i in 0..n {
                    iovs[i].iov_len = msgs[i].msg_len as usize;
                    msgs[i].msg_hdr.msg_control = std::ptr::null_mut();
                    msgs[i].msg_hdr.msg_controllen = 0;
                }
                let mut sent = 0usize;
                while sent < n {
                    let r = libc::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (n - sent) as u32, 0);
                    if r <= 0 {
                        window.echo_errors += (n - sent) as u64;
                        break;
                    }
                    sent += r as usize;
                    window.echoed += r as u64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[4..8].copy_from_slice(&ts.to_be_bytes());
        p[8..12].copy_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0xff; 160]);
        p
    }

    #[test]
    fn intervals_gaps_loss_and_skipped_frames() {
        let mut w = Window::new();
        let ms = 1_000_000u64;
        // Stream 1: 0..=9 every 20 ms, but 5 is lost and 8's timestamp says
        // one frame was skipped.
        for seq in 0u16..10 {
            if seq == 5 {
                continue;
            }
            let ts = u32::from(seq) * 160 + if seq >= 8 { 160 } else { 0 };
            w.packet(1, &rtp(seq, ts, 7), u64::from(seq) * 20 * ms);
        }
        // Stream 2: across the sequence number's wrap, one late duplicate.
        for (i, seq) in [65534u16, 65535, 0, 1, 1].into_iter().enumerate() {
            w.packet(2, &rtp(seq, (i as u32) * 160, 9), i as u64 * 20 * ms);
        }
        w.packet(3, b"not rtp", 0);
        let r = w.report();
        assert!(r.contains("\"streams\":2"), "{r}");
        assert!(r.contains("\"lost\":1"), "{r}");
        assert!(r.contains("\"seq_gaps\":1"), "{r}");
        assert!(r.contains("\"late_or_duplicate\":1"), "{r}");
        assert!(r.contains("\"skipped_frames\":1"), "{r}");
        assert!(r.contains("\"interval_p50_ms\":20"), "{r}");
        assert!(r.contains("\"interval_max_ms\":40"), "{r}");
        assert!(r.contains("\"not_rtp\":1"), "{r}");
    }
}

//! bench/run's RTP probe.
//!
//! `rtp-probe --port P [--bind ADDR] [--echo | --talk | --keys D,MS]` binds
//! one UDP socket, to which every bench caller's SDP points the engine's
//! RTP, and reads every packet that arrives: `recvmmsg` in batches, each
//! packet with the kernel's receive timestamp (`SO_TIMESTAMPNS`), so the
//! probe's own scheduling is not measured. Packets are grouped into
//! streams by source address and SSRC. For each stream it follows:
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
//! With `--talk` the probe sends its own stream to every source address
//! that sends it audio (payload type 0 or 8): one PCMU packet of 160
//! bytes (a 1 kHz tone) every 20 ms, its own SSRC, sequence numbers and
//! timestamps per destination, the marker bit on a talkspurt's first
//! packet. One clock paces every destination (ticks at start + k·20 ms on
//! CLOCK_MONOTONIC, re-anchored rather than bursting when more than
//! 100 ms behind); each tick sends one packet to each destination in
//! `sendmmsg` batches. A destination heard from for 2 s stops being
//! talked to.
//!
//! With `--keys D,MS` (and `--event-pt N`, 101 by default) the probe
//! presses key D once on each new stream of audio (a source address and
//! an SSRC: a later call may reuse an engine port), MS milliseconds after
//! its first audio packet, towards its address: RFC 4733 packets at t,
//! t+20 ms and t+40 ms, then three end packets at t+60 ms. The key's time
//! is CLOCK_REALTIME just before its first packet is sent, the clock of
//! the kernel's receive timestamps. It then times the prompt the key
//! interrupts: the first audio packet from that address received after
//! the key with the marker bit set is the next prompt's first packet, the
//! audio packet before it the interrupted prompt's last one. A key with
//! no such packet within 5 s is unanswered. `--talk` and `--keys` may be
//! used together, not with `--echo`.
//!
//! The loop sleeps until the next tick or key packet is due, or for a
//! millisecond at most, then reads what came with `recvmmsg` (non-blocking,
//! at most 16 batches a turn, so the ticks are not starved). It does not
//! wait on the socket: a reader blocked there is woken by every packet, and
//! on loopback that wake-up (another core's thread to schedule) is paid
//! inside the sender's `sendto`, that is, on the engine's core. Each packet
//! is timestamped by the kernel as it arrives (`SO_TIMESTAMPNS`), so reading
//! it up to a millisecond later changes no figure.
//!
//! Control by signal: SIGUSR1 starts a new window (counts reset), SIGUSR2
//! prints the window so far as one JSON line on standard output, SIGTERM
//! and SIGINT print it and exit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
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
/// recvmmsg batches read in one turn of the loop at most.
const READS_PER_TURN: usize = 16;
/// The longest sleep between two reads of the socket.
const POLL_NS: u64 = 1_000_000;

const MS: u64 = 1_000_000;
/// The talk and key clock: one frame.
const TICK_NS: u64 = 20 * MS;
/// A tick loop further behind than this starts again from now.
const BEHIND_NS: u64 = 100 * MS;
/// A talk destination not heard from for this long is no longer talked to.
const TALK_IDLE_NS: u64 = 2_000 * MS;
/// A key without the next prompt's first packet after this is unanswered.
const KEY_ANSWER_NS: u64 = 5_000 * MS;
/// The talk packet: a 12-byte RTP header and 160 bytes of PCMU.
const TALK_PACKET: usize = 12 + 160;
/// PCMU's 1 kHz digital milliwatt (ITU-T G.711), one period of 8 samples.
const MILLIWATT: [u8; 8] = [0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e];
/// An RFC 4733 packet: a 12-byte RTP header and the 4-byte event.
const KEY_PACKET: usize = 12 + 4;
/// The key's volume field (RFC 4733 §2.3.4: 0 to -63 dBm0, as 0 to 63).
const KEY_VOLUME: u8 = 10;
const DEFAULT_EVENT_PT: u8 = 101;

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
    talk_sent: u64,
    talk_errors: u64,
    talk_destinations: usize,
    talk_destinations_max: usize,
    keys_sent: u64,
    keys_answered: u64,
    keys_unanswered: u64,
    key_to_last_ms: Vec<f64>,
    key_to_next_ms: Vec<f64>,
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
            talk_sent: 0,
            talk_errors: 0,
            talk_destinations: 0,
            talk_destinations_max: 0,
            keys_sent: 0,
            keys_answered: 0,
            keys_unanswered: 0,
            key_to_last_ms: Vec::new(),
            key_to_next_ms: Vec::new(),
        }
    }

    fn set_talk_destinations(&mut self, n: usize) {
        self.talk_destinations = n;
        self.talk_destinations_max = self.talk_destinations_max.max(n);
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
                "\"echoed\":{},\"echo_errors\":{},",
                "\"talk_sent\":{},\"talk_errors\":{},\"talk_destinations\":{},\"talk_destinations_max\":{},",
                "\"keys_sent\":{},\"keys_answered\":{},\"keys_unanswered\":{},",
                "\"key_to_last_ms\":{},\"key_to_next_ms\":{}}}"
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
            self.talk_sent,
            self.talk_errors,
            self.talk_destinations,
            self.talk_destinations_max,
            self.keys_sent,
            self.keys_answered,
            self.keys_unanswered,
            summary(&self.key_to_last_ms),
            summary(&self.key_to_next_ms),
        )
    }
}

/// `{"p50":…,"p99":…,"max":…,"min":…,"n":…}` of exact values (nearest-rank
/// percentiles, 3 decimals), or `null` when there are none.
fn summary(values: &[f64]) -> String {
    if values.is_empty() {
        return "null".to_string();
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let rank = |p: f64| v[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    format!(
        "{{\"p50\":{},\"p99\":{},\"max\":{},\"min\":{},\"n\":{}}}",
        r3(rank(50.0)),
        r3(rank(99.0)),
        r3(v[n - 1]),
        r3(v[0]),
        n
    )
}

/// A 64-bit mix (splitmix64's finaliser): SSRCs and first numbers from an address.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Some(marker bit) for an RTP audio packet (payload type 0 or 8), None for
/// anything else (RTCP, telephone-event, not RTP).
fn audio(data: &[u8]) -> Option<bool> {
    if data.len() < 12 || data[0] >> 6 != 2 {
        return None;
    }
    match data[1] & 0x7f {
        0 | 8 => Some(data[1] & 0x80 != 0),
        _ => None,
    }
}

fn rtp_header(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[0] = 0x80;
    h[1] = pt | if marker { 0x80 } else { 0 };
    h[2..4].copy_from_slice(&seq.to_be_bytes());
    h[4..8].copy_from_slice(&ts.to_be_bytes());
    h[8..12].copy_from_slice(&ssrc.to_be_bytes());
    h
}

/// The RFC 4733 event code of a key (§3.2): 0-9, * 10, # 11, A-D 12-15.
fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        'a'..='d' => Some(key as u8 - b'a' + 12),
        _ => None,
    }
}

/// `DIGIT,AFTER_MS` of `--keys`: the event code and the delay in ms.
fn parse_keys(arg: &str) -> Option<(u8, u64)> {
    let (key, after) = arg.split_once(',')?;
    let mut chars = key.chars();
    let code = event_code(chars.next()?)?;
    if chars.next().is_some() {
        return None;
    }
    Some((code, after.trim().parse().ok()?))
}

/// The RFC 4733 event payload (§2.3): event, E | R | volume, duration.
fn event_payload(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [code, if end { 0x80 } else { 0 } | KEY_VOLUME, d[0], d[1]]
}

fn event_packet(
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    event: [u8; 4],
) -> [u8; KEY_PACKET] {
    let mut p = [0u8; KEY_PACKET];
    p[..12].copy_from_slice(&rtp_header(pt, marker, seq, ts, ssrc));
    p[12..].copy_from_slice(&event);
    p
}

/// The talk and key clock: ticks at start + k·TICK_NS.
struct Pacer {
    next_ns: u64,
}

impl Pacer {
    /// Whether a tick is due at `now_ns` (monotonic); moves to the next one.
    fn due(&mut self, now_ns: u64) -> bool {
        if now_ns < self.next_ns {
            return false;
        }
        if now_ns - self.next_ns > BEHIND_NS {
            // Too far behind: start again from now rather than burst.
            self.next_ns = now_ns + TICK_NS;
        } else {
            self.next_ns += TICK_NS;
        }
        true
    }
}

/// One talk destination's stream.
struct Voice {
    ssrc: u32,
    seq: u16,
    ts: u32,
    /// Monotonic times: last packet received from it, last packet sent to it.
    heard_ns: u64,
    sent_ns: u64,
    /// The next packet starts a talkspurt (marker bit).
    fresh: bool,
}

/// `--talk`: the destinations and their streams. Times are monotonic ns.
struct Talk {
    seed: u64,
    active: HashMap<u64, Voice>,
    /// Destinations no longer talked to, kept so that a source that comes
    /// back gets the same stream going on (new talkspurt), not a new one.
    dormant: HashMap<u64, Voice>,
}

impl Talk {
    fn new(seed: u64) -> Talk {
        Talk {
            seed,
            active: HashMap::new(),
            dormant: HashMap::new(),
        }
    }

    /// A packet from `source`: keeps its destination alive, or makes it one
    /// if it is audio.
    fn heard(&mut self, source: u64, data: &[u8], now_ns: u64) {
        if let Some(v) = self.active.get_mut(&source) {
            v.heard_ns = now_ns;
            return;
        }
        if audio(data).is_none() {
            return;
        }
        let voice = match self.dormant.remove(&source) {
            Some(mut v) => {
                // The timestamp moves on by the frames not sent meanwhile.
                let frames = (now_ns.saturating_sub(v.sent_ns) / TICK_NS) as u32;
                v.ts = v.ts.wrapping_add(frames.wrapping_mul(160));
                v.heard_ns = now_ns;
                v.fresh = true;
                v
            }
            None => {
                let h = mix(self.seed ^ source);
                let h2 = mix(h);
                Voice {
                    ssrc: h as u32,
                    seq: (h >> 32) as u16,
                    ts: h2 as u32,
                    heard_ns: now_ns,
                    sent_ns: now_ns,
                    fresh: true,
                }
            }
        };
        self.active.insert(source, voice);
    }

    /// A tick: drops the destinations not heard from for TALK_IDLE_NS, and
    /// adds one packet for each other one to `out`.
    fn tick(&mut self, now_ns: u64, out: &mut Vec<(u64, [u8; TALK_PACKET])>) {
        let idle: Vec<u64> = self
            .active
            .iter()
            .filter(|(_, v)| now_ns.saturating_sub(v.heard_ns) >= TALK_IDLE_NS)
            .map(|(s, _)| *s)
            .collect();
        for s in idle {
            if let Some(v) = self.active.remove(&s) {
                self.dormant.insert(s, v);
            }
        }
        for (source, v) in self.active.iter_mut() {
            let mut p = [0u8; TALK_PACKET];
            p[..12].copy_from_slice(&rtp_header(0, v.fresh, v.seq, v.ts, v.ssrc));
            for (i, b) in p[12..].iter_mut().enumerate() {
                *b = MILLIWATT[i % MILLIWATT.len()];
            }
            out.push((*source, p));
            v.fresh = false;
            v.seq = v.seq.wrapping_add(1);
            v.ts = v.ts.wrapping_add(160);
            v.sent_ns = now_ns;
        }
    }
}

/// One source's key: its presses, then the wait for the next prompt.
struct Key {
    /// The SSRC of the engine's stream the key was pressed on (one call).
    stream: u32,
    /// Which key of the probe's life this is (stale schedule entries of an
    /// earlier key to the same address are skipped).
    number: u64,
    ssrc: u32,
    seq: u16,
    /// The RTP timestamp of every packet of the event.
    ts: u32,
    /// Packets steps sent: 0 (not pressed yet) to 4 (the end packets sent).
    step: u8,
    /// Monotonic time of the first packet.
    pressed_ns: u64,
    /// CLOCK_REALTIME of the first packet, once sent.
    t_key_ns: Option<u64>,
    /// Receive time (kernel, realtime) of the last audio packet from the source.
    last_audio_ns: u64,
    answered: bool,
}

/// A key packet to send.
struct KeyPacket {
    dest: u64,
    bytes: [u8; KEY_PACKET],
    /// The key's first packet: its send time is the key's time.
    first: bool,
}

/// `--keys`: one key per stream of audio (a source address and an SSRC:
/// the engine's ports are reused by later calls, each with its own SSRC),
/// and its timing.
struct Keys {
    code: u8,
    pt: u8,
    after_ns: u64,
    seed: u64,
    /// Every stream that was given a key (once in the probe's life).
    seen: HashSet<(u64, u32)>,
    /// Keys being pressed or waiting for their answer, by source address.
    pending: HashMap<u64, Key>,
    /// The next packet step due of each key: (monotonic ns, source, key number).
    due: BinaryHeap<Reverse<(u64, u64, u64)>>,
    /// Keys started so far.
    started: u64,
}

impl Keys {
    fn new(code: u8, pt: u8, after_ms: u64, seed: u64) -> Keys {
        Keys {
            code,
            pt,
            after_ns: after_ms * MS,
            seed,
            seen: HashSet::new(),
            pending: HashMap::new(),
            due: BinaryHeap::new(),
            started: 0,
        }
    }

    /// A received packet: `at_ns` its kernel receive time (realtime),
    /// `now_ns` the monotonic time it is read.
    fn packet(&mut self, source: u64, data: &[u8], at_ns: u64, now_ns: u64, w: &mut Window) {
        let Some(marker) = audio(data) else {
            return;
        };
        let ssrc = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if let Some(k) = self.pending.get_mut(&source)
            && k.stream == ssrc
        {
            if let Some(t_key) = k.t_key_ns
                && !k.answered
                && marker
                && at_ns > t_key
            {
                // The next prompt's first packet; the one before it was the
                // interrupted prompt's last.
                k.answered = true;
                w.keys_answered += 1;
                w.key_to_last_ms
                    .push((k.last_audio_ns as i64 - t_key as i64) as f64 / 1e6);
                w.key_to_next_ms
                    .push((at_ns as i64 - t_key as i64) as f64 / 1e6);
                if k.step == 4 {
                    self.pending.remove(&source);
                    return;
                }
            }
            k.last_audio_ns = at_ns;
        } else if self.seen.insert((source, ssrc)) {
            // A new stream from this address: a key still waiting there
            // belonged to an earlier call, which ended unanswered.
            if let Some(old) = self.pending.remove(&source)
                && old.t_key_ns.is_some()
                && !old.answered
            {
                w.keys_unanswered += 1;
            }
            self.started += 1;
            let h = mix(self.seed ^ source ^ u64::from(ssrc) ^ 0x6b65_7973);
            let h2 = mix(h);
            self.pending.insert(
                source,
                Key {
                    stream: ssrc,
                    number: self.started,
                    ssrc: h as u32,
                    seq: (h >> 32) as u16,
                    ts: h2 as u32,
                    step: 0,
                    pressed_ns: 0,
                    t_key_ns: None,
                    last_audio_ns: at_ns,
                    answered: false,
                },
            );
            self.due
                .push(Reverse((now_ns + self.after_ns, source, self.started)));
        }
    }

    /// When the next key packet is due (monotonic ns).
    fn next_deadline(&self) -> Option<u64> {
        self.due.peek().map(|r| r.0.0)
    }

    /// Adds the key packets due at `now_ns` (monotonic) to `out`. The caller
    /// sends them and calls `pressed` with the time of each first one.
    fn due_packets(&mut self, now_ns: u64, out: &mut Vec<KeyPacket>) {
        while let Some(&Reverse((due, source, number))) = self.due.peek() {
            if due > now_ns {
                break;
            }
            self.due.pop();
            let Some(k) = self.pending.get_mut(&source) else {
                continue;
            };
            if k.number != number {
                continue;
            }
            let (end, duration, count) = match k.step {
                0 => {
                    k.pressed_ns = now_ns;
                    (false, 160, 1)
                }
                1 => (false, 320, 1),
                2 => (false, 480, 1),
                _ => (true, 640, 3),
            };
            for _ in 0..count {
                out.push(KeyPacket {
                    dest: source,
                    bytes: event_packet(
                        self.pt,
                        k.step == 0,
                        k.seq,
                        k.ts,
                        k.ssrc,
                        event_payload(self.code, end, duration),
                    ),
                    first: k.step == 0,
                });
                k.seq = k.seq.wrapping_add(1);
            }
            k.step += 1;
            if k.step < 4 {
                self.due.push(Reverse((
                    k.pressed_ns + u64::from(k.step) * TICK_NS,
                    source,
                    k.number,
                )));
            } else if k.answered {
                self.pending.remove(&source);
            }
        }
    }

    /// The key to `source` was sent at `t_key_ns` (realtime).
    fn pressed(&mut self, source: u64, t_key_ns: u64, w: &mut Window) {
        if let Some(k) = self.pending.get_mut(&source) {
            k.t_key_ns = Some(t_key_ns);
            w.keys_sent += 1;
        }
    }

    /// Counts the keys without an answer KEY_ANSWER_NS after them at
    /// `now_ns` (realtime) as unanswered.
    fn expire(&mut self, now_ns: u64, w: &mut Window) {
        self.pending.retain(|_, k| match k.t_key_ns {
            Some(t) if !k.answered && now_ns > t + KEY_ANSWER_NS => {
                w.keys_unanswered += 1;
                false
            }
            _ => true,
        });
    }
}

fn fail(what: &str) -> ! {
    eprintln!("rtp-probe: {what}: {}", std::io::Error::last_os_error());
    std::process::exit(1);
}

fn usage() -> ! {
    eprintln!(concat!(
        "usage: rtp-probe --port PORT [--bind 127.0.0.1] [--echo | [--talk] [--keys DIGIT,AFTER_MS [--event-pt 101]]]\n",
        "  --echo                 send every packet back to its source\n",
        "  --talk                 send a 20 ms PCMU stream to every source of audio (PT 0 or 8)\n",
        "                         until it has been silent for 2 s\n",
        "  --keys DIGIT,AFTER_MS  press DIGIT (0-9 * # A-D, RFC 4733) towards each new source of\n",
        "                         audio AFTER_MS after its first packet, and time the prompt it stops\n",
        "  --event-pt N           the payload type of the key packets (default 101)"
    ));
    std::process::exit(2);
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives in this frame.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A source address (IPv4 << 16 | port) as a sockaddr_in.
fn sockaddr(address: u64) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data, for which all zeroes is valid.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = (address as u16).to_be();
    sin.sin_addr.s_addr = ((address >> 16) as u32).to_be();
    sin
}

/// Sends each packet to its address, `sendmmsg` in batches of BATCH;
/// returns (sent, failed).
fn send_all<const N: usize>(fd: libc::c_int, packets: &[(u64, [u8; N])]) -> (u64, u64) {
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut names = [sockaddr(0); BATCH];
    // SAFETY: iovec and mmsghdr are plain data, for which all zeroes is valid.
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for chunk in packets.chunks(BATCH) {
        for (i, (dest, bytes)) in chunk.iter().enumerate() {
            names[i] = sockaddr(*dest);
            iovs[i] = libc::iovec {
                iov_base: bytes.as_ptr() as *mut _,
                iov_len: N,
            };
            msgs[i].msg_hdr.msg_name = &mut names[i] as *mut _ as *mut _;
            msgs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            msgs[i].msg_hdr.msg_iov = &mut iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        let n = chunk.len();
        let mut done = 0usize;
        while done < n {
            // SAFETY: the first n headers point at names, iovecs and packet
            // bytes that outlive the call; sendmmsg only reads the bytes.
            let r =
                unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr().add(done), (n - done) as u32, 0) };
            if r <= 0 {
                failed += (n - done) as u64;
                break;
            }
            done += r as usize;
            sent += r as u64;
        }
    }
    (sent, failed)
}

fn send_to(fd: libc::c_int, dest: u64, bytes: &[u8]) -> bool {
    let sin = sockaddr(dest);
    // SAFETY: the bytes and the address outlive the call; sendto only reads them.
    let r = unsafe {
        libc::sendto(
            fd,
            bytes.as_ptr() as *const _,
            bytes.len(),
            0,
            &sin as *const _ as *const libc::sockaddr,
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    r == bytes.len() as isize
}

fn main() {
    let mut port: Option<u16> = None;
    let mut bind = Ipv4Addr::LOCALHOST;
    let mut echo = false;
    let mut talk_on = false;
    let mut keys_arg: Option<(u8, u64)> = None;
    let mut event_pt: Option<u8> = None;
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
            "--talk" => talk_on = true,
            "--keys" => {
                keys_arg = Some(
                    args.next()
                        .and_then(|a| parse_keys(&a))
                        .unwrap_or_else(|| usage()),
                )
            }
            "--event-pt" => {
                event_pt = Some(
                    args.next()
                        .and_then(|a| a.parse().ok())
                        .filter(|pt| *pt < 128)
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }
    let port = port.unwrap_or_else(|| usage());
    if echo && (talk_on || keys_arg.is_some()) {
        eprintln!("rtp-probe: --echo does not go with --talk or --keys");
        usage();
    }
    if event_pt.is_some() && keys_arg.is_none() {
        eprintln!("rtp-probe: --event-pt needs --keys");
        usage();
    }
    let seed = mix(clock_ns(libc::CLOCK_REALTIME) ^ (u64::from(std::process::id()) << 32));
    let mut talk = talk_on.then(|| Talk::new(seed));
    let mut keys = keys_arg.map(|(code, after_ms)| {
        Keys::new(code, event_pt.unwrap_or(DEFAULT_EVENT_PT), after_ms, seed)
    });
    let paced = talk.is_some() || keys.is_some();
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
        let mut pacer = Pacer {
            next_ns: clock_ns(libc::CLOCK_MONOTONIC) + TICK_NS,
        };
        let mut talk_out: Vec<(u64, [u8; TALK_PACKET])> = Vec::new();
        let mut key_out: Vec<KeyPacket> = Vec::new();
        let stdout = std::io::stdout();
        loop {
            if RESET.swap(false, Ordering::SeqCst) {
                window = Window::new();
                if let Some(t) = &talk {
                    window.set_talk_destinations(t.active.len());
                }
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
            let now = clock_ns(libc::CLOCK_MONOTONIC);
            if paced && pacer.due(now) {
                if let Some(t) = talk.as_mut() {
                    talk_out.clear();
                    t.tick(now, &mut talk_out);
                    let (sent, failed) = send_all(fd, &talk_out);
                    window.talk_sent += sent;
                    window.talk_errors += failed;
                    window.set_talk_destinations(t.active.len());
                }
                if let Some(k) = keys.as_mut() {
                    k.expire(clock_ns(libc::CLOCK_REALTIME), &mut window);
                }
            }
            if let Some(k) = keys.as_mut() {
                key_out.clear();
                k.due_packets(now, &mut key_out);
                for p in &key_out {
                    if p.first {
                        let t_key = clock_ns(libc::CLOCK_REALTIME);
                        send_to(fd, p.dest, &p.bytes);
                        k.pressed(p.dest, t_key, &mut window);
                    } else {
                        send_to(fd, p.dest, &p.bytes);
                    }
                }
            }

            // Sleep until the next tick or key packet, a millisecond at most.
            let now = clock_ns(libc::CLOCK_MONOTONIC);
            let mut deadline = now + POLL_NS;
            if paced {
                deadline = deadline.min(pacer.next_ns);
            }
            if let Some(d) = keys.as_ref().and_then(Keys::next_deadline) {
                deadline = deadline.min(d);
            }
            let wait = deadline.saturating_sub(now);
            let timeout = libc::timespec {
                tv_sec: (wait / 1_000_000_000) as libc::time_t,
                tv_nsec: (wait % 1_000_000_000) as libc::c_long,
            };
            // Interrupted by a signal or not, the socket is read next.
            libc::nanosleep(&timeout, std::ptr::null_mut());

            for _ in 0..READS_PER_TURN {
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
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                );
                if n <= 0 {
                    break; // EAGAIN: the queue is empty (or EINTR)
                }
                let n = n as usize;
                let read_ns = clock_ns(libc::CLOCK_MONOTONIC);
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
                    let data = &bufs[i][..len];
                    window.packet(source, data, at_ns);
                    if let Some(t) = talk.as_mut() {
                        t.heard(source, data, read_ns);
                    }
                    if let Some(k) = keys.as_mut() {
                        k.packet(source, data, at_ns, read_ns, &mut window);
                    }
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
                        let r =
                            libc::sendmmsg(fd, msgs.as_mut_ptr().add(sent), (n - sent) as u32, 0);
                        if r <= 0 {
                            window.echo_errors += (n - sent) as u64;
                            break;
                        }
                        sent += r as usize;
                        window.echoed += r as u64;
                    }
                }
                if n < BATCH {
                    break; // the queue is empty
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

    /// An audio packet of payload type `pt`, with or without the marker.
    fn audio_packet(pt: u8, marker: bool) -> Vec<u8> {
        let mut p = rtp(1, 160, 5);
        p[1] = pt | if marker { 0x80 } else { 0 };
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
        assert!(r.contains("\"talk_sent\":0"), "{r}");
        assert!(
            r.contains("\"key_to_last_ms\":null,\"key_to_next_ms\":null}"),
            "{r}"
        );
    }

    #[test]
    fn digits_map_to_rfc4733_events() {
        let keys = "0123456789*#ABCD";
        for (i, c) in keys.chars().enumerate() {
            assert_eq!(event_code(c), Some(i as u8), "{c}");
        }
        assert_eq!(event_code('d'), Some(15));
        assert_eq!(event_code('E'), None);
        assert_eq!(event_code(','), None);
        assert_eq!(parse_keys("1,1000"), Some((1, 1000)));
        assert_eq!(parse_keys("#,0"), Some((11, 0)));
        assert_eq!(parse_keys("12,100"), None);
        assert_eq!(parse_keys("1"), None);
        assert_eq!(parse_keys("1,x"), None);
    }

    #[test]
    fn event_packets_are_exact() {
        assert_eq!(event_payload(1, false, 160), [0x01, 0x0a, 0x00, 0xa0]);
        assert_eq!(event_payload(11, true, 640), [0x0b, 0x8a, 0x02, 0x80]);
        let p = event_packet(
            101,
            true,
            0x1234,
            0x0102_0304,
            0xdead_beef,
            event_payload(1, false, 160),
        );
        assert_eq!(
            p,
            [
                0x80, 0xe5, 0x12, 0x34, 0x01, 0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x0a,
                0x00, 0xa0
            ]
        );
        let p = event_packet(96, false, 0xffff, 7, 9, event_payload(15, true, 640));
        assert_eq!(
            p,
            [
                0x80, 0x60, 0xff, 0xff, 0, 0, 0, 7, 0, 0, 0, 9, 0x0f, 0x8a, 0x02, 0x80
            ]
        );
    }

    #[test]
    fn summary_is_nearest_rank() {
        assert_eq!(summary(&[]), "null");
        let v: Vec<f64> = (1..=100).rev().map(|i| i as f64 + 0.00049).collect();
        assert_eq!(
            summary(&v),
            "{\"p50\":50,\"p99\":99,\"max\":100,\"min\":1,\"n\":100}"
        );
        assert_eq!(
            summary(&[-1.2344, 3.0]),
            "{\"p50\":-1.234,\"p99\":3,\"max\":3,\"min\":-1.234,\"n\":2}"
        );
    }

    #[test]
    fn pacer_keeps_its_schedule_or_re_anchors() {
        let mut p = Pacer { next_ns: 20 * MS };
        assert!(!p.due(19 * MS));
        assert!(p.due(21 * MS));
        assert_eq!(p.next_ns, 40 * MS);
        // 90 ms behind: catch up on the same schedule.
        assert!(p.due(130 * MS));
        assert_eq!(p.next_ns, 60 * MS);
        // More than 100 ms behind: start again from now.
        assert!(p.due(300 * MS));
        assert_eq!(p.next_ns, 320 * MS);
    }

    #[test]
    fn talk_destinations_and_their_expiry() {
        let mut t = Talk::new(42);
        let mut out = Vec::new();
        // Not audio: no destination (RTCP, telephone-event, not RTP).
        t.heard(1, &audio_packet(101, false), 0);
        t.heard(1, &[0x80, 200, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], 0);
        t.heard(1, b"hello", 0);
        t.tick(20 * MS, &mut out);
        assert!(out.is_empty());
        // PCMU from 1 and PCMA from 2.
        t.heard(1, &audio_packet(0, false), 0);
        t.heard(2, &audio_packet(8, true), 10 * MS);
        t.tick(20 * MS, &mut out);
        assert_eq!(out.len(), 2);
        let first = out.iter().find(|(d, _)| *d == 1).unwrap().1;
        assert_eq!(first[0], 0x80);
        assert_eq!(first[1], 0x80, "payload type 0, marker");
        assert_eq!(&first[12..20], &MILLIWATT);
        out.clear();
        t.tick(40 * MS, &mut out);
        let second = out.iter().find(|(d, _)| *d == 1).unwrap().1;
        assert_eq!(second[1], 0, "no marker after the first");
        let seq = |p: &[u8; TALK_PACKET]| u16::from_be_bytes([p[2], p[3]]);
        let ts = |p: &[u8; TALK_PACKET]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
        assert_eq!(seq(&second), seq(&first).wrapping_add(1));
        assert_eq!(ts(&second), ts(&first).wrapping_add(160));
        assert_eq!(second[8..12], first[8..12], "same SSRC");
        let other = out.iter().find(|(d, _)| *d == 2).unwrap().1;
        assert_ne!(other[8..12], first[8..12], "an SSRC per destination");
        // 2 keeps sending (any packet, even not audio); 1 goes quiet.
        t.heard(2, b"rtcp", 1_900 * MS);
        out.clear();
        t.tick(2_000 * MS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 2);
        assert_eq!(t.active.len(), 1);
        out.clear();
        t.tick(3_920 * MS, &mut out);
        assert!(out.is_empty());
        assert!(t.active.is_empty());
        // 1 comes back: the same stream goes on, a new talkspurt.
        t.heard(1, &audio_packet(0, false), 4_000 * MS);
        t.tick(4_000 * MS, &mut out);
        assert_eq!(out.len(), 1);
        let back = out[0].1;
        assert_eq!(back[1], 0x80);
        assert_eq!(back[8..12], first[8..12]);
        assert_eq!(seq(&back), seq(&first).wrapping_add(2));
        assert_eq!(ts(&back), ts(&first).wrapping_add(160 * (2 + 198)));
    }

    #[test]
    fn keys_are_pressed_and_timed() {
        let mut k = Keys::new(1, 101, 200, 7);
        let mut w = Window::new();
        let mut out = Vec::new();
        // Realtime receive times around 1e12 ns; monotonic from 0.
        let r0 = 1_000_000 * MS;
        k.packet(1, &audio_packet(101, false), r0, 0, &mut w);
        assert_eq!(k.next_deadline(), None, "telephone-event is not audio");
        k.packet(1, &audio_packet(0, true), r0, 0, &mut w);
        k.packet(2, &audio_packet(8, false), r0 + 5 * MS, 5 * MS, &mut w);
        assert_eq!(k.next_deadline(), Some(200 * MS));
        k.due_packets(199 * MS, &mut out);
        assert!(out.is_empty());
        k.due_packets(201 * MS, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].first && out[0].dest == 1);
        assert_eq!(out[0].bytes[1], 0x80 | 101);
        assert_eq!(out[0].bytes[12..], [1, 0x0a, 0, 160]);
        let t_key = r0 + 201 * MS;
        k.pressed(1, t_key, &mut w);
        assert_eq!(w.keys_sent, 1);
        assert_eq!(k.next_deadline(), Some(205 * MS), "source 2's key");
        // A marker before the key is not an answer; packets of the old prompt.
        k.packet(1, &audio_packet(0, true), t_key - MS, 202 * MS, &mut w);
        k.packet(
            1,
            &audio_packet(0, false),
            t_key + 10 * MS,
            211 * MS,
            &mut w,
        );
        for at in [206, 221, 241, 261, 281] {
            k.due_packets(at * MS, &mut out);
        }
        let to_1: Vec<&KeyPacket> = out.iter().filter(|p| p.dest == 1).collect();
        assert_eq!(to_1.len(), 6);
        let durations: Vec<[u8; 4]> = to_1
            .iter()
            .map(|p| p.bytes[12..].try_into().unwrap())
            .collect();
        assert_eq!(
            durations,
            [
                [1, 0x0a, 0x00, 0xa0],
                [1, 0x0a, 0x01, 0x40],
                [1, 0x0a, 0x01, 0xe0],
                [1, 0x8a, 0x02, 0x80],
                [1, 0x8a, 0x02, 0x80],
                [1, 0x8a, 0x02, 0x80]
            ]
        );
        for (i, p) in to_1.iter().enumerate() {
            assert_eq!(p.bytes[1] & 0x80 != 0, i == 0, "marker on the first only");
            assert_eq!(p.first, i == 0);
            let seq = u16::from_be_bytes([p.bytes[2], p.bytes[3]]);
            assert_eq!(
                seq,
                u16::from_be_bytes([to_1[0].bytes[2], to_1[0].bytes[3]]).wrapping_add(i as u16)
            );
            assert_eq!(
                p.bytes[4..12],
                to_1[0].bytes[4..12],
                "one timestamp, one SSRC"
            );
        }
        k.pressed(2, r0 + 206 * MS, &mut w);
        assert_eq!(w.keys_sent, 2);
        // The next prompt from 1: its first packet has the marker.
        k.packet(
            1,
            &audio_packet(0, true),
            t_key + 45_500_000,
            262 * MS,
            &mut w,
        );
        assert_eq!(w.keys_answered, 1);
        assert_eq!(w.key_to_last_ms, [10.0]);
        assert_eq!(w.key_to_next_ms, [45.5]);
        // A later marker counts for nothing; 1 gets no second key.
        k.packet(1, &audio_packet(0, true), t_key + 90 * MS, 300 * MS, &mut w);
        assert_eq!(w.keys_answered, 1);
        assert!(!k.pending.contains_key(&1));
        // 2 never answers: unanswered 5 s after its key.
        k.expire(r0 + 206 * MS + KEY_ANSWER_NS, &mut w);
        assert_eq!(w.keys_unanswered, 0);
        k.expire(r0 + 207 * MS + KEY_ANSWER_NS, &mut w);
        assert_eq!(w.keys_unanswered, 1);
        assert!(k.pending.is_empty());
        k.packet(
            2,
            &audio_packet(8, true),
            r0 + 6_000 * MS,
            6_000 * MS,
            &mut w,
        );
        assert_eq!(w.keys_answered, 1);
        assert_eq!(k.next_deadline(), None);
        let r = w.report();
        assert!(
            r.contains("\"keys_sent\":2,\"keys_answered\":1,\"keys_unanswered\":1"),
            "{r}"
        );
        assert!(
            r.contains("\"key_to_last_ms\":{\"p50\":10,\"p99\":10,\"max\":10,\"min\":10,\"n\":1}"),
            "{r}"
        );
        assert!(r.contains("\"key_to_next_ms\":{\"p50\":45.5,"), "{r}");
    }

    #[test]
    fn a_later_call_on_the_same_port_gets_its_own_key() {
        let mut k = Keys::new(1, 101, 100, 7);
        let mut w = Window::new();
        let mut out = Vec::new();
        let r0 = 1_000_000 * MS;
        let call = |ssrc: u32, marker: bool| {
            let mut p = audio_packet(0, marker);
            p[8..12].copy_from_slice(&ssrc.to_be_bytes());
            p
        };
        k.packet(1, &call(11, false), r0, 0, &mut w);
        k.due_packets(100 * MS, &mut out);
        k.pressed(1, r0 + 100 * MS, &mut w);
        // The first call ends before its answer; a second call on the same
        // address (another SSRC) gets a key of its own.
        k.packet(1, &call(22, false), r0 + 150 * MS, 150 * MS, &mut w);
        assert_eq!(w.keys_unanswered, 1, "the first call's key");
        // The first key's remaining steps no longer apply (their schedule
        // entries only wake the loop).
        out.clear();
        k.due_packets(249 * MS, &mut out);
        assert!(out.is_empty(), "{}", out.len());
        k.due_packets(250 * MS, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].first);
        k.pressed(1, r0 + 250 * MS, &mut w);
        k.packet(1, &call(22, true), r0 + 260 * MS, 260 * MS, &mut w);
        assert_eq!((w.keys_sent, w.keys_answered), (2, 1));
        assert_eq!(w.key_to_next_ms, [10.0]);
        // The same stream again: no second key.
        k.packet(1, &call(22, false), r0 + 300 * MS, 300 * MS, &mut w);
        k.due_packets(10_000 * MS, &mut out);
        assert_eq!(out.iter().filter(|p| p.first).count(), 1);
    }

    #[test]
    fn key_answered_at_once_keeps_pressing_and_may_be_negative() {
        let mut k = Keys::new(10, 101, 0, 7);
        let mut w = Window::new();
        let mut out = Vec::new();
        let r0 = 1_000_000 * MS;
        k.packet(9, &audio_packet(0, false), r0, 0, &mut w);
        k.due_packets(0, &mut out);
        let t_key = r0 + 30 * MS;
        k.pressed(9, t_key, &mut w);
        // The old prompt's last packet left before the key arrived.
        k.packet(9, &audio_packet(0, false), t_key - 2 * MS, MS, &mut w);
        k.packet(9, &audio_packet(0, true), t_key + 5 * MS, 5 * MS, &mut w);
        assert_eq!(w.key_to_last_ms, [-2.0]);
        assert_eq!(w.key_to_next_ms, [5.0]);
        // The presses still go out to the end.
        for at in [20, 40, 60] {
            k.due_packets(at * MS, &mut out);
        }
        assert_eq!(out.len(), 6);
        assert_eq!(out[0].bytes[12], 10);
        assert!(k.pending.is_empty());
        assert_eq!(k.next_deadline(), None);
    }
}

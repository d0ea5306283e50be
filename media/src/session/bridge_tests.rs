//! Bridge and hold-loop tests over real loopback UDP sockets: two sessions
//! (the caller's leg and the navigator's leg), each with a "phone" socket.
//! Waits are bounded by timeouts on the expected packet or event; timing
//! comparisons use generous bounds (a noisy 2-core VM).

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::tests::*;
use super::*;
use crate::dtmf::TelephoneEvent;
use crate::dtmf::testing::tone;
use crate::g711::{alaw_to_ulaw, ulaw_to_alaw};
use crate::rtp::RtpHeader;

/// The navigator's phone numbers telephone-event differently.
const NAVIGATOR_EVENT: u8 = 96;
/// Timestamp vs wall clock across a switch: within 100 ms.
const CLOCK_TOLERANCE: f64 = 800.0;

/// One call leg: its session and the phone at the other end.
struct Leg {
    handle: MediaHandle,
    events: mpsc::Receiver<MediaEvent>,
    /// The session's own address (where the phone sends).
    media: SocketAddr,
    phone: Arc<UdpSocket>,
}

async fn leg(codec: Codec, telephone_event_pt: Option<u8>) -> Leg {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let cfg = SessionConfig {
        codec,
        ..config(Some(addr(&phone)), telephone_event_pt)
    };
    let (handle, events) = RtpSession::start(media, cfg);
    Leg {
        handle,
        events,
        media: media_addr,
        phone: Arc::new(phone),
    }
}

/// Speech-like audio: two sines with a slow swell, using most segments.
fn voice(frames: usize, pitch: f64) -> Vec<i16> {
    (0..frames * FRAME_SAMPLES)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let swell = 0.2 + 0.8 * (t * 3.0).sin().abs();
            let s = (t * pitch * std::f64::consts::TAU).sin() * 0.6
                + (t * pitch * 2.7 * std::f64::consts::TAU).sin() * 0.3;
            (s * swell * 20_000.0) as i16
        })
        .collect()
}

/// A phone talking: `pcm` as 20 ms packets in `codec`, one every 20 ms.
fn speak(phone: Arc<UdpSocket>, to: SocketAddr, codec: Codec, pcm: Vec<i16>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FRAME_DURATION);
        let (mut seq, mut ts) = (4000u16, 90_000u32);
        let mut payload = Vec::new();
        for (i, frame) in pcm.chunks(FRAME_SAMPLES).enumerate() {
            tick.tick().await;
            payload.clear();
            codec.encode_into(frame, &mut payload);
            let h = RtpHeader {
                ssrc: 0x5EED_0000 | u32::from(codec.payload_type()),
                ..header(codec.payload_type(), i == 0, seq, ts)
            };
            send_rtp(&phone, to, h, &payload).await;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(FRAME_SAMPLES as u32);
        }
    })
}

async fn recv_n(phone: &UdpSocket, n: usize) -> Vec<Received> {
    let mut packets = Vec::with_capacity(n);
    for _ in 0..n {
        packets.push(recv(phone).await);
    }
    packets
}

/// `after` continues `before`'s stream: same SSRC, the next sequence
/// number, a new talkspurt, and a timestamp that advanced with the clock.
fn assert_continues(before: &Received, after: &Received, what: &str) {
    let (a, b) = (before.packet(), after.packet());
    assert_eq!(b.ssrc(), a.ssrc(), "{what}: same SSRC");
    assert_eq!(
        b.sequence(),
        a.sequence().wrapping_add(1),
        "{what}: next sequence number"
    );
    assert!(b.marker(), "{what}: a new talkspurt is marked");
    let wall = (after.at - before.at).as_secs_f64() * 8000.0;
    let advance = f64::from(b.timestamp().wrapping_sub(a.timestamp()));
    assert!(
        (advance - wall).abs() < CLOCK_TOLERANCE,
        "{what}: timestamp advanced {advance} samples over {wall} samples of wall clock"
    );
}

/// Packets `i` and `i + 1` of one talkspurt: consecutive, 20 ms apart in
/// RTP time.
fn assert_consecutive(packets: &[Received], what: &str) {
    for pair in packets.windows(2) {
        let (a, b) = (pair[0].packet(), pair[1].packet());
        assert_eq!(b.ssrc(), a.ssrc(), "{what}");
        assert_eq!(b.sequence(), a.sequence().wrapping_add(1), "{what}");
        assert_eq!(b.timestamp(), a.timestamp().wrapping_add(160), "{what}");
        assert!(!b.marker(), "{what}: no marker inside a talkspurt");
    }
}

/// The decoded waveform is within G.711 tolerance of the original (two
/// quantisations: μ-law then A-law, each a few per cent).
fn assert_sounds_like(decoded: &[i16], original: &[i16], what: &str) {
    assert_eq!(decoded.len(), original.len(), "{what}");
    for (i, (&d, &o)) in decoded.iter().zip(original).enumerate() {
        let error = (i32::from(d) - i32::from(o)).abs();
        let bound = i32::from(o).abs() / 12 + 48;
        assert!(error <= bound, "{what}: sample {i}: {d} vs {o}");
    }
}

async fn expect_quiet(events: &mut mpsc::Receiver<MediaEvent>, window: Duration) {
    let event = timeout(window, events.recv()).await;
    assert!(event.is_err(), "expected no event, got {event:?}");
}

#[tokio::test]
async fn caller_on_pcmu_and_navigator_on_pcma_hear_each_other_transcoded_on_continuous_streams() {
    let mut caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let mut nav = leg(Codec::Pcma, Some(NAVIGATOR_EVENT)).await;

    // Before the bridge: the caller hears hold audio, the navigator a whisper.
    let hold = prompt(2);
    caller.handle.play_loop(vec![hold]).expect("alive");
    nav.handle.play(vec![prompt(3)]).expect("alive");
    let whisper = recv_n(&nav.phone, 3).await;
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::PlaybackFinished
    );
    recv_n(&caller.phone, 2).await;

    caller.handle.bridge(&nav.handle).expect("both alive");

    // The caller talks (PCMU): the navigator hears it as PCMA.
    let words = voice(25, 310.0);
    let talking = speak(
        Arc::clone(&caller.phone),
        caller.media,
        Codec::Pcmu,
        words.clone(),
    );
    let heard = recv_n(&nav.phone, 25).await;
    talking.await.expect("speaker task");
    assert_eq!(
        next_event(&mut caller.events).await,
        MediaEvent::FirstPacket {
            from: addr(&caller.phone)
        }
    );
    let mut decoded = Vec::new();
    for (i, (r, frame)) in heard.iter().zip(words.chunks(FRAME_SAMPLES)).enumerate() {
        let p = r.packet();
        assert_eq!(p.payload_type(), 8, "packet {i}: the navigator's PCMA");
        let sent: Vec<u8> = frame.iter().map(|&s| Codec::Pcmu.encode(s)).collect();
        let expected: Vec<u8> = sent.iter().map(|&c| ulaw_to_alaw(c)).collect();
        assert_eq!(p.payload(), &expected[..], "packet {i}: μ-law → A-law");
        Codec::Pcma.decode_into(p.payload(), &mut decoded);
    }
    assert_sounds_like(&decoded, &words, "caller → navigator");
    // One stream for the navigator: whisper, then the caller's voice.
    assert_consecutive(&whisper, "whisper");
    assert_continues(&whisper[2], &heard[0], "whisper → bridge");
    assert_consecutive(&heard, "bridged audio");

    // The navigator answers (PCMA): the caller hears PCMU, on the stream
    // that carried the hold audio.
    let reply = voice(10, 180.0);
    let talking = speak(
        Arc::clone(&nav.phone),
        nav.media,
        Codec::Pcma,
        reply.clone(),
    );
    let at_caller = collect_within(&caller.phone, Duration::from_millis(600)).await;
    talking.await.expect("speaker task");
    assert!(at_caller.len() >= 10, "{} packets", at_caller.len());
    let (hold_tail, relayed) = at_caller.split_at(at_caller.len() - 10);
    for (i, (r, frame)) in relayed.iter().zip(reply.chunks(FRAME_SAMPLES)).enumerate() {
        let p = r.packet();
        assert_eq!(p.payload_type(), 0, "packet {i}: the caller's PCMU");
        let expected: Vec<u8> = frame
            .iter()
            .map(|&s| alaw_to_ulaw(Codec::Pcma.encode(s)))
            .collect();
        assert_eq!(p.payload(), &expected[..], "packet {i}: A-law → μ-law");
    }
    assert_consecutive(relayed, "bridged audio to the caller");
    if let Some(last_hold) = hold_tail.last() {
        // Hold packets still in the socket from before the bridge: the
        // bridged audio continues their stream.
        let (a, b) = (last_hold.packet(), relayed[0].packet());
        assert_eq!(b.ssrc(), a.ssrc());
        assert_eq!(b.sequence(), a.sequence().wrapping_add(1));
        assert!(b.marker());
    }

    // Unbridge from the navigator's side: the caller's leg hears of it; no
    // audio crosses any more.
    nav.handle.unbridge().expect("alive");
    assert_eq!(
        next_event(&mut caller.events).await,
        MediaEvent::BridgeEnded
    );
    speak(
        Arc::clone(&caller.phone),
        caller.media,
        Codec::Pcmu,
        voice(5, 300.0),
    )
    .await
    .expect("speaker task");
    assert_eq!(
        count_within(&nav.phone, Duration::from_millis(150)).await,
        0,
        "nothing crosses after unbridge"
    );

    // A transfer puts the caller back on hold; the navigator hears a prompt.
    // Both streams carry on where the bridged audio left them.
    caller.handle.play_loop(vec![prompt(2)]).expect("alive");
    let back_on_hold = recv(&caller.phone).await;
    assert_continues(&relayed[9], &back_on_hold, "bridge → hold");
    nav.handle.play(vec![prompt(2)]).expect("alive");
    let after = recv_n(&nav.phone, 2).await;
    assert_continues(&heard[24], &after[0], "bridge → prompt");
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::FirstPacket {
            from: addr(&nav.phone)
        }
    );
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::PlaybackFinished
    );
    expect_quiet(&mut nav.events, Duration::from_millis(50)).await;

    let stats = close(&nav.handle, &mut nav.events).await;
    assert_eq!(stats.packets_relayed, 25, "{stats:?}");
    assert_eq!(stats.packets_sent, 3 + 25 + 2, "{stats:?}");
    let stats = close(&caller.handle, &mut caller.events).await;
    assert_eq!(stats.packets_relayed, 10, "{stats:?}");
}

#[tokio::test]
async fn a_key_press_is_a_digit_on_its_leg_and_crosses_with_the_other_legs_payload_type() {
    let mut caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let mut nav = leg(Codec::Pcma, Some(NAVIGATOR_EVENT)).await;
    caller.handle.bridge(&nav.handle).expect("both alive");

    let (mut seq, mut ts) = (10u16, 16_000u32);
    send_audio(&caller.phone, caller.media, &[0; 320], &mut seq, &mut ts).await;
    send_key_press(&caller.phone, caller.media, 5, ts, &mut seq, 2).await;
    assert_eq!(
        next_event(&mut caller.events).await,
        MediaEvent::FirstPacket {
            from: addr(&caller.phone)
        }
    );
    expect_digit(&mut caller.events, '5', DigitSource::Rfc4733).await;

    let heard = recv_n(&nav.phone, 2 + 5).await;
    let (audio, events) = heard.split_at(2);
    assert!(audio.iter().all(|r| r.packet().payload_type() == 8));
    let event_ts = events[0].packet().timestamp();
    for (i, r) in events.iter().enumerate() {
        let p = r.packet();
        assert_eq!(p.payload_type(), NAVIGATOR_EVENT, "event packet {i}");
        assert_eq!(p.timestamp(), event_ts, "one event, one timestamp");
        assert_eq!(p.marker(), i == 0, "marker on the event's first packet");
        let event = TelephoneEvent::parse(p.payload()).expect("an event");
        assert_eq!((event.event, event.end), (5, i >= 2));
    }
    // Re-timed with the audio: the event starts right after the two frames.
    assert_eq!(
        event_ts.wrapping_sub(audio[0].packet().timestamp()),
        320,
        "event timestamp keeps its place in the audio's time"
    );
    for pair in heard.windows(2) {
        let (a, b) = (pair[0].packet(), pair[1].packet());
        assert_eq!(b.sequence(), a.sequence().wrapping_add(1));
        assert_eq!(b.ssrc(), a.ssrc());
    }
    // The navigator's leg did not detect the caller's key.
    expect_quiet(&mut nav.events, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn key_presses_do_not_cross_to_a_leg_without_telephone_event() {
    let mut caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let mut nav = leg(Codec::Pcmu, None).await;
    caller.handle.bridge(&nav.handle).expect("both alive");
    let (mut seq, mut ts) = (1u16, 0u32);
    send_audio(&caller.phone, caller.media, &[0; 160], &mut seq, &mut ts).await;
    send_key_press(&caller.phone, caller.media, 9, ts, &mut seq, 1).await;
    send_audio(&caller.phone, caller.media, &[0; 160], &mut seq, &mut ts).await;
    assert!(matches!(
        next_event(&mut caller.events).await,
        MediaEvent::FirstPacket { .. }
    ));
    expect_digit(&mut caller.events, '9', DigitSource::Rfc4733).await;
    let heard = collect_within(&nav.phone, Duration::from_millis(200)).await;
    assert_eq!(heard.len(), 2, "the audio only");
    assert!(heard.iter().all(|r| r.packet().payload_type() == 0));
    let stats = close(&nav.handle, &mut nav.events).await;
    assert_eq!(
        (stats.packets_relayed, stats.events_not_relayed),
        (2, 4),
        "{stats:?}"
    );
}

#[tokio::test]
async fn closing_one_leg_ends_the_bridge_and_the_other_leg_carries_on() {
    let mut caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let mut nav = leg(Codec::Pcma, None).await;
    assert!(matches!(
        nav.handle.bridge(&nav.handle.clone()),
        Err(SessionError::BridgeToItself)
    ));
    caller.handle.bridge(&nav.handle).expect("both alive");
    let (mut seq, mut ts) = (1u16, 0u32);
    send_audio(&caller.phone, caller.media, &[0; 160], &mut seq, &mut ts).await;
    let crossed = recv(&nav.phone).await;

    // The caller hangs up.
    let stats = close(&caller.handle, &mut caller.events).await;
    assert_eq!(stats.packets_received, 1);
    assert_eq!(next_event(&mut nav.events).await, MediaEvent::BridgeEnded);

    // The navigator's leg still plays, on the same stream.
    nav.handle.play(vec![prompt(2)]).expect("alive");
    let prompt_packets = recv_n(&nav.phone, 2).await;
    assert_continues(&crossed, &prompt_packets[0], "bridge → prompt");
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::PlaybackFinished
    );

    // Bridging with an ended leg fails, whichever side asks, and leaves
    // the live leg unbridged and well.
    assert!(matches!(
        nav.handle.bridge(&caller.handle),
        Err(SessionError::Closed)
    ));
    assert!(matches!(
        caller.handle.bridge(&nav.handle),
        Err(SessionError::Closed)
    ));
    assert_eq!(next_event(&mut nav.events).await, MediaEvent::BridgeEnded);
    nav.handle.play(vec![prompt(1)]).expect("alive");
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::PlaybackFinished
    );
    let stats = close(&nav.handle, &mut nav.events).await;
    assert_eq!(
        (stats.packets_relayed, stats.packets_sent),
        (1, 4),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_prompt_on_a_bridged_leg_plays_over_the_peer_then_the_peer_is_heard_again() {
    let caller = leg(Codec::Pcmu, None).await;
    let mut nav = leg(Codec::Pcmu, None).await;
    caller.handle.bridge(&nav.handle).expect("both alive");
    let talking = speak(
        Arc::clone(&caller.phone),
        caller.media,
        Codec::Pcmu,
        voice(40, 250.0),
    );
    recv_n(&nav.phone, 3).await;
    let announcement = prompt(5);
    nav.handle.play(vec![announcement.clone()]).expect("alive");
    // The announcement's frames arrive in order, undisturbed by the peer's.
    let mut next_frame = 0;
    let mut packets = Vec::new();
    while next_frame < 5 {
        let r = recv(&nav.phone).await;
        if Some(r.packet().payload()) == announcement.frame(Codec::Pcmu, next_frame) {
            next_frame += 1;
        } else {
            assert_eq!(
                next_frame, 0,
                "the peer's audio interrupted the announcement"
            );
        }
        packets.push(r);
    }
    assert_eq!(
        next_event(&mut nav.events).await,
        MediaEvent::PlaybackFinished
    );
    // Then the peer again, on the same stream.
    let resumed = recv_n(&nav.phone, 3).await;
    packets.extend(resumed);
    for pair in packets.windows(2) {
        let (a, b) = (pair[0].packet(), pair[1].packet());
        assert_eq!(b.sequence(), a.sequence().wrapping_add(1));
        assert_eq!(b.ssrc(), a.ssrc());
    }
    talking.await.expect("speaker task");
}

#[tokio::test]
async fn hold_loop_repeats_until_stop_and_a_play_replaces_it() {
    let mut leg = leg(Codec::Pcmu, None).await;
    let (a, b) = (prompt(2), Prompt::from_pcm("b", &tone('1', 20, 4000.0)));
    leg.handle
        .play_loop(vec![a.clone(), b.clone()])
        .expect("alive");
    let cycle: Vec<&[u8]> = a.frames(Codec::Pcmu).chain(b.frames(Codec::Pcmu)).collect();
    let packets = recv_n(&leg.phone, 9).await;
    for (i, r) in packets.iter().enumerate() {
        assert_eq!(r.packet().payload(), cycle[i % 3], "packet {i}");
        assert_eq!(r.packet().marker(), i == 0);
    }
    assert_consecutive(&packets[1..], "hold loop");

    leg.handle.stop().expect("alive");
    let after_stop = count_within(&leg.phone, Duration::from_millis(150)).await;
    assert!(after_stop <= 1, "{after_stop} packets after stop()");
    // A loop never finishes, and a stop is not a finish.
    expect_quiet(&mut leg.events, Duration::from_millis(50)).await;

    // Back on hold, then an announcement replaces the loop and finishes.
    leg.handle.play_loop(vec![a.clone()]).expect("alive");
    recv_n(&leg.phone, 4).await;
    let c = prompt(2);
    leg.handle.play(vec![c.clone()]).expect("alive");
    let mut seen = 0;
    for _ in 0..3 {
        let r = recv(&leg.phone).await;
        if Some(r.packet().payload()) == c.frame(Codec::Pcmu, 0) {
            seen = 1;
            break;
        }
    }
    assert_eq!(seen, 1, "the announcement starts at once");
    assert_eq!(
        recv(&leg.phone).await.packet().payload(),
        c.frame(Codec::Pcmu, 1).expect("two frames")
    );
    assert_eq!(
        next_event(&mut leg.events).await,
        MediaEvent::PlaybackFinished
    );
    assert_eq!(
        count_within(&leg.phone, Duration::from_millis(100)).await,
        0
    );

    // Nothing to loop: finished at once, nothing sent.
    leg.handle.play_loop(Vec::new()).expect("alive");
    assert_eq!(
        next_event(&mut leg.events).await,
        MediaEvent::PlaybackFinished
    );
}

#[tokio::test]
async fn an_announcement_interrupts_the_hold_loop_which_resumes_where_it_was() {
    let mut leg = leg(Codec::Pcmu, None).await;
    let hold = prompt(8);
    let news = Prompt::from_pcm("position", &tone('5', 40, 4000.0));
    let hold_frame =
        |r: &Received| (0..8).find(|&i| hold.frame(Codec::Pcmu, i) == Some(r.packet().payload()));
    leg.handle.play_loop(vec![hold.clone()]).expect("alive");
    let mut packets = recv_n(&leg.phone, 3).await;
    leg.handle.announce(vec![news.clone()]).expect("alive");
    // Hold frames still due before the command was seen, then the news.
    let mut last_hold = None;
    loop {
        let r = recv(&leg.phone).await;
        if r.packet().payload() == news.frame(Codec::Pcmu, 0).expect("2 frames") {
            packets.push(r);
            break;
        }
        last_hold = Some(hold_frame(&r).expect("a hold frame"));
        packets.push(r);
        assert!(packets.len() < 8, "the announcement did not start");
    }
    let last_hold = last_hold.unwrap_or(2);
    let second = recv(&leg.phone).await;
    assert_eq!(Some(second.packet().payload()), news.frame(Codec::Pcmu, 1));
    packets.push(second);
    assert_eq!(
        next_event(&mut leg.events).await,
        MediaEvent::PlaybackFinished
    );
    // The hold loop resumes at the frame after the last one heard, and
    // wraps around to its start.
    let resumed = recv_n(&leg.phone, 8).await;
    for (i, r) in resumed.iter().enumerate() {
        assert_eq!(
            hold_frame(r),
            Some((last_hold + 1 + i) % 8),
            "resumed packet {i}"
        );
    }
    packets.extend(resumed);
    // One talkspurt throughout: loop, announcement, loop.
    assert_consecutive(&packets[1..], "hold, announcement, hold");

    // An empty announcement finishes at once; the loop plays on.
    leg.handle.announce(Vec::new()).expect("alive");
    assert_eq!(
        next_event(&mut leg.events).await,
        MediaEvent::PlaybackFinished
    );
    let more = recv_n(&leg.phone, 3).await;
    assert!(more.iter().all(|r| hold_frame(r).is_some()));
    assert!(!more[2].packet().marker());

    // Stop ends both; a later announcement has no loop to go back to.
    leg.handle.announce(vec![news.clone()]).expect("alive");
    leg.handle.stop().expect("alive");
    collect_within(&leg.phone, Duration::from_millis(100)).await;
    leg.handle.announce(vec![news]).expect("alive");
    assert_eq!(recv_n(&leg.phone, 2).await.len(), 2);
    assert_eq!(
        next_event(&mut leg.events).await,
        MediaEvent::PlaybackFinished
    );
    assert_eq!(
        count_within(&leg.phone, Duration::from_millis(100)).await,
        0
    );
}

#[tokio::test]
async fn a_reinvite_on_one_leg_changes_what_the_bridge_sends_it() {
    let caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let nav = leg(Codec::Pcma, Some(NAVIGATOR_EVENT)).await;
    caller.handle.bridge(&nav.handle).expect("both alive");
    let frame: Vec<u8> = voice(1, 400.0)
        .iter()
        .map(|&s| Codec::Pcmu.encode(s))
        .collect();
    let mut seq = 1u16;
    for ts in [0u32, 160] {
        send_rtp(
            &caller.phone,
            caller.media,
            header(0, ts == 0, seq, ts),
            &frame,
        )
        .await;
        seq += 1;
    }
    let before = recv_n(&nav.phone, 2).await;
    assert!(before.iter().all(|r| r.packet().payload_type() == 8));

    // The navigator's phone renegotiates to PCMU: the caller's audio now
    // crosses untouched, on the same stream.
    nav.handle
        .update(SessionConfig {
            codec: Codec::Pcmu,
            ..config(Some(addr(&nav.phone)), Some(NAVIGATOR_EVENT))
        })
        .expect("alive");
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_rtp(
        &caller.phone,
        caller.media,
        header(0, false, seq, 320),
        &frame,
    )
    .await;
    let after = recv(&nav.phone).await;
    let p = after.packet();
    assert_eq!(p.payload_type(), 0);
    assert_eq!(
        p.payload(),
        &frame[..],
        "same law: the bytes cross as they are"
    );
    assert_continues(&before[1], &after, "re-INVITE");
}

#[tokio::test]
async fn long_packets_cross_in_pieces_of_30ms_at_most() {
    let caller = leg(Codec::Pcma, None).await;
    let nav = leg(Codec::Pcmu, None).await;
    caller.handle.bridge(&nav.handle).expect("both alive");
    // One 60 ms packet (ptime 60).
    let pcm = voice(3, 220.0);
    let mut payload = Vec::new();
    Codec::Pcma.encode_into(&pcm, &mut payload);
    send_rtp(
        &caller.phone,
        caller.media,
        header(8, true, 77, 4242),
        &payload,
    )
    .await;
    let pieces = recv_n(&nav.phone, 2).await;
    let (a, b) = (pieces[0].packet(), pieces[1].packet());
    assert_eq!((a.payload().len(), b.payload().len()), (240, 240));
    assert_eq!(b.sequence(), a.sequence().wrapping_add(1));
    assert_eq!(b.timestamp(), a.timestamp().wrapping_add(240));
    assert!(a.marker() && !b.marker());
    let mut decoded = Vec::new();
    Codec::Pcmu.decode_into(a.payload(), &mut decoded);
    Codec::Pcmu.decode_into(b.payload(), &mut decoded);
    assert_sounds_like(&decoded, &pcm, "A-law 60 ms → μ-law 2 × 30 ms");
}

#[tokio::test]
async fn a_consult_transfer_is_two_rebridges() {
    let mut caller = leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await;
    let mut nav = leg(Codec::Pcma, Some(NAVIGATOR_EVENT)).await;
    let mut agency = leg(Codec::Pcma, None).await;
    caller.handle.bridge(&nav.handle).expect("alive");

    // The navigator consults the agency: the caller's leg leaves the
    // bridge and goes on hold.
    nav.handle.bridge(&agency.handle).expect("alive");
    assert_eq!(
        next_event(&mut caller.events).await,
        MediaEvent::BridgeEnded
    );
    caller.handle.play_loop(vec![prompt(3)]).expect("alive");
    let (mut seq, mut ts) = (1u16, 0u32);
    send_audio(&agency.phone, agency.media, &[0; 160], &mut seq, &mut ts).await;
    assert_eq!(recv(&nav.phone).await.packet().payload_type(), 8);

    // Then hands the caller over: the caller talks with the agency.
    caller.handle.bridge(&agency.handle).expect("alive");
    assert_eq!(next_event(&mut nav.events).await, MediaEvent::BridgeEnded);
    collect_within(&caller.phone, Duration::from_millis(60)).await; // hold audio in flight
    send_audio(&agency.phone, agency.media, &[0; 160], &mut seq, &mut ts).await;
    let r = recv(&caller.phone).await;
    assert_eq!(r.packet().payload_type(), 0);
    assert_eq!(r.packet().payload(), &[Codec::Pcmu.encode(0); 160][..]);
    assert_eq!(count_within(&nav.phone, Duration::from_millis(60)).await, 0);
    close(&nav.handle, &mut nav.events).await;
    expect_quiet(&mut caller.events, Duration::from_millis(50)).await;
    // The agency's leg moved by its own command: no BridgeEnded for it.
    assert!(matches!(
        next_event(&mut agency.events).await,
        MediaEvent::FirstPacket { .. }
    ));
    expect_quiet(&mut agency.events, Duration::from_millis(50)).await;
}

/// Process CPU time (user + system) from /proc/self/stat, Linux only.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 here.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// A phone sending 20 ms PCMU silence to `to` until aborted.
fn chatter(phone: Arc<UdpSocket>, to: SocketAddr) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FRAME_DURATION);
        let (mut seq, mut ts) = (0u16, 0u32);
        let mut buf = Vec::new();
        loop {
            tick.tick().await;
            crate::rtp::write_packet(&mut buf, &header(0, seq == 0, seq, ts), &[0xFF; 160]);
            let _ = phone.send_to(&buf, to).await;
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
        }
    })
}

/// Not a check but a measurement: the CPU cost of `LEGS` legs playing a
/// prompt (their phones talking meanwhile) against the same legs bridged in
/// pairs (their phones talking to each other). Run with
/// `cargo test -p frontdoor-media --release -- --ignored --nocapture call_cost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run with --release --ignored --nocapture"]
async fn call_cost_bridged_against_prompt_playing() {
    const LEGS: usize = 200;
    const RUN: Duration = Duration::from_secs(4);
    let mut report = Vec::new();
    for bridged in [false, true, false, true] {
        let mut legs = Vec::new();
        for _ in 0..LEGS {
            legs.push(leg(Codec::Pcmu, Some(TELEPHONE_EVENT)).await);
        }
        let talkers: Vec<_> = legs
            .iter()
            .map(|l| chatter(Arc::clone(&l.phone), l.media))
            .collect();
        if bridged {
            for pair in legs.chunks(2) {
                pair[0].handle.bridge(&pair[1].handle).expect("alive");
            }
        } else {
            for l in &legs {
                l.handle.play_loop(vec![prompt(50)]).expect("alive");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = cpu_time();
        tokio::time::sleep(RUN).await;
        let used = cpu_time() - start;
        let mut sent = 0;
        for t in talkers {
            t.abort();
        }
        for mut l in legs {
            sent += close(&l.handle, &mut l.events).await.packets_sent;
        }
        report.push((bridged, used, sent));
    }
    for (bridged, used, sent) in report {
        let what = if bridged { "bridged" } else { "prompts" };
        println!(
            "{what}: {LEGS} legs, {:.1}% of one core ({used:?} CPU in {RUN:?}), {sent} packets sent by the sessions",
            used.as_secs_f64() / RUN.as_secs_f64() * 100.0
        );
    }
}

/// The typical level a phone hears over `window`: the median of its
/// packets' mean decoded sample (0 when nothing came).
async fn heard_level(phone: &UdpSocket, window: Duration) -> i32 {
    let mut means: Vec<i32> = collect_within(phone, window)
        .await
        .iter()
        .map(|r| {
            let packet = r.packet();
            let codec = Codec::from_payload_type(packet.payload_type()).expect("G.711");
            let mut pcm = Vec::new();
            codec.decode_into(packet.payload(), &mut pcm);
            pcm.iter().map(|&s| i32::from(s)).sum::<i32>() / pcm.len().max(1) as i32
        })
        .collect();
    means.sort_unstable();
    means.get(means.len() / 2).copied().unwrap_or(0)
}

/// What each of the three phones hears, once the change before has
/// settled: (caller, navigator, supervisor).
async fn levels(caller: &Leg, nav: &Leg, sup: &Leg) -> (i32, i32, i32) {
    let settle = Duration::from_millis(200);
    let window = Duration::from_millis(400);
    let _ = tokio::join!(
        collect_within(&caller.phone, settle),
        collect_within(&nav.phone, settle),
        collect_within(&sup.phone, settle)
    );
    tokio::join!(
        heard_level(&caller.phone, window),
        heard_level(&nav.phone, window),
        heard_level(&sup.phone, window)
    )
}

fn near(level: i32, expected: i32) -> bool {
    (level - expected).abs() <= 150
}

#[tokio::test]
async fn a_supervisor_listens_to_both_legs_then_whispers_to_the_navigator_then_barges_in() {
    let caller = leg(Codec::Pcmu, None).await;
    let nav = leg(Codec::Pcmu, None).await;
    // The supervisor's phone speaks the other law: the mix is encoded for it.
    let sup = leg(Codec::Pcma, None).await;
    caller.handle.bridge(&nav.handle).expect("both alive");
    let mixer = Mixer::new();
    caller.handle.mix(&mixer, 0, &[]).expect("alive");
    nav.handle.mix(&mixer, 1, &[]).expect("alive");
    sup.handle.mix(&mixer, 2, &[0, 1]).expect("alive");
    // Each phone says one steady level for 4 s.
    let frames = 200;
    let talking = [
        speak(
            Arc::clone(&caller.phone),
            caller.media,
            Codec::Pcmu,
            vec![1000; frames * FRAME_SAMPLES],
        ),
        speak(
            Arc::clone(&nav.phone),
            nav.media,
            Codec::Pcmu,
            vec![2000; frames * FRAME_SAMPLES],
        ),
        speak(
            Arc::clone(&sup.phone),
            sup.media,
            Codec::Pcma,
            vec![500; frames * FRAME_SAMPLES],
        ),
    ];

    // Listening in: the supervisor hears both; the others, each other only.
    let (c, n, s) = levels(&caller, &nav, &sup).await;
    assert!(
        near(s, 3000) && near(c, 2000) && near(n, 1000),
        "listen: caller {c}, navigator {n}, supervisor {s}"
    );

    // A whisper: the navigator hears the caller and the supervisor; the
    // caller still hears the navigator only.
    nav.handle.mix(&mixer, 1, &[0, 2]).expect("alive");
    let (c, n, s) = levels(&caller, &nav, &sup).await;
    assert!(
        near(s, 3000) && near(c, 2000) && near(n, 1500),
        "whisper: caller {c}, navigator {n}, supervisor {s}"
    );

    // Barging in: everyone hears the two others.
    caller.handle.mix(&mixer, 0, &[1, 2]).expect("alive");
    let (c, n, s) = levels(&caller, &nav, &sup).await;
    assert!(
        near(s, 3000) && near(c, 2500) && near(n, 1500),
        "barge-in: caller {c}, navigator {n}, supervisor {s}"
    );

    // The supervisor leaves: the bridge carries the call as before.
    for leg in [&caller, &nav, &sup] {
        leg.handle.unmix().expect("alive");
    }
    let (c, n, s) = levels(&caller, &nav, &sup).await;
    assert!(
        near(c, 2000) && near(n, 1000) && s == 0,
        "after: caller {c}, navigator {n}, supervisor {s}"
    );
    for t in talking {
        t.abort();
    }
}

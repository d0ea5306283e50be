//! Session tests over real loopback UDP sockets: the session on one
//! socket, the "phone" on another. Waits are bounded by timeouts on the
//! expected packet or event, never by sleeping.

use std::net::Ipv4Addr;

use tokio::time::timeout;

use super::*;
use crate::dtmf::TelephoneEvent;
use crate::dtmf::testing::{silence, tone};
use crate::rtp::{RtpHeader, write_packet};

pub(super) const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Longest wait for something that must happen.
pub(super) const WAIT: Duration = Duration::from_secs(1);
pub(super) const TELEPHONE_EVENT: u8 = 101;

pub(super) async fn socket() -> UdpSocket {
    UdpSocket::bind((LOCALHOST, 0))
        .await
        .expect("loopback bind")
}

pub(super) fn addr(socket: &UdpSocket) -> SocketAddr {
    socket.local_addr().expect("bound socket has an address")
}

pub(super) fn config(remote: Option<SocketAddr>, telephone_event_pt: Option<u8>) -> SessionConfig {
    SessionConfig {
        codec: Codec::Pcmu,
        telephone_event_pt,
        remote,
        send: true,
        receive_timeout: None,
        confirmed: true,
        srtp: None,
    }
}

/// A prompt of `frames` 20 ms frames of a changing tone (every frame differs).
pub(super) fn prompt(frames: usize) -> Prompt {
    let pcm: Vec<i16> = (0..frames * FRAME_SAMPLES)
        .map(|n| ((n as f64 * 0.05).sin() * (n % 7000) as f64) as i16)
        .collect();
    Prompt::from_pcm("test", &pcm)
}

pub(super) struct Received {
    pub(super) bytes: Vec<u8>,
    pub(super) from: SocketAddr,
    pub(super) at: std::time::Instant,
}

impl Received {
    pub(super) fn packet(&self) -> RtpPacket<'_> {
        RtpPacket::parse(&self.bytes).expect("the session sends valid RTP")
    }
}

pub(super) async fn recv(peer: &UdpSocket) -> Received {
    let mut buf = vec![0; 2048];
    let (len, from) = timeout(WAIT, peer.recv_from(&mut buf))
        .await
        .expect("a packet within 1 s")
        .expect("recv");
    buf.truncate(len);
    Received {
        bytes: buf,
        from,
        at: std::time::Instant::now(),
    }
}

/// Packets arriving at `peer` within `window`.
pub(super) async fn collect_within(peer: &UdpSocket, window: Duration) -> Vec<Received> {
    let deadline = Instant::now() + window;
    let mut packets = Vec::new();
    let mut buf = vec![0; 2048];
    while let Ok(received) = tokio::time::timeout_at(deadline, peer.recv_from(&mut buf)).await {
        let (len, from) = received.expect("recv");
        packets.push(Received {
            bytes: buf[..len].to_vec(),
            from,
            at: std::time::Instant::now(),
        });
    }
    packets
}

pub(super) async fn count_within(peer: &UdpSocket, window: Duration) -> usize {
    collect_within(peer, window).await.len()
}

pub(super) async fn next_event(events: &mut mpsc::Receiver<MediaEvent>) -> MediaEvent {
    timeout(WAIT, events.recv())
        .await
        .expect("an event within 1 s")
        .expect("session alive")
}

/// The next event is this key, from this detector.
pub(super) async fn expect_digit(
    events: &mut mpsc::Receiver<MediaEvent>,
    digit: char,
    source: DigitSource,
) {
    assert_eq!(
        next_event(events).await,
        MediaEvent::Digit { digit, source }
    );
}

/// Closes the session and returns its final counters.
pub(super) async fn close(
    handle: &MediaHandle,
    events: &mut mpsc::Receiver<MediaEvent>,
) -> SessionStats {
    handle.close().expect("session alive");
    loop {
        if let MediaEvent::Closed { stats } = next_event(events).await {
            return stats;
        }
    }
}

pub(super) async fn send_rtp(from: &UdpSocket, to: SocketAddr, header: RtpHeader, payload: &[u8]) {
    let mut buf = Vec::new();
    write_packet(&mut buf, &header, payload);
    from.send_to(&buf, to).await.expect("loopback send");
}

pub(super) fn header(payload_type: u8, marker: bool, sequence: u16, timestamp: u32) -> RtpHeader {
    RtpHeader {
        payload_type,
        marker,
        sequence,
        timestamp,
        ssrc: 0x00CA_11E4,
    }
}

/// Sends one RFC 4733 key press: `updates` progress packets then three
/// end packets, all with the event's timestamp.
pub(super) async fn send_key_press(
    phone: &UdpSocket,
    to: SocketAddr,
    event: u8,
    timestamp: u32,
    seq: &mut u16,
    updates: u16,
) {
    for i in 0..updates + 3 {
        let end = i >= updates;
        let duration = (i.min(updates) + 1) * 400;
        let payload = TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes();
        send_rtp(
            phone,
            to,
            header(TELEPHONE_EVENT, i == 0, *seq, timestamp),
            &payload,
        )
        .await;
        *seq = seq.wrapping_add(1);
    }
}

/// Sends `pcm` as 20 ms PCMU packets.
pub(super) async fn send_audio(
    phone: &UdpSocket,
    to: SocketAddr,
    pcm: &[i16],
    seq: &mut u16,
    timestamp: &mut u32,
) {
    for frame in pcm.chunks(FRAME_SAMPLES) {
        let mut payload = Vec::new();
        Codec::Pcmu.encode_into(frame, &mut payload);
        send_rtp(phone, to, header(0, false, *seq, *timestamp), &payload).await;
        *seq = seq.wrapping_add(1);
        *timestamp = timestamp.wrapping_add(frame.len() as u32);
    }
}

#[tokio::test]
async fn prompt_plays_as_consecutive_20ms_packets_with_a_marker_on_the_first() {
    let (media, phone) = (socket().await, socket().await);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&phone)), None));
    let prompt = prompt(5);
    handle.play(vec![prompt.clone()]).expect("session alive");

    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(recv(&phone).await);
    }
    let first = received[0].packet();
    for (i, r) in received.iter().enumerate() {
        let p = r.packet();
        assert_eq!(p.payload_type(), 0, "PCMU");
        assert_eq!(
            p.marker(),
            i == 0,
            "marker only on the first packet (RFC 3551 §4.1)"
        );
        assert_eq!(p.sequence(), first.sequence().wrapping_add(i as u16));
        assert_eq!(
            p.timestamp(),
            first.timestamp().wrapping_add(160 * i as u32)
        );
        assert_eq!(p.ssrc(), first.ssrc());
        assert_eq!(Some(p.payload()), prompt.frame(Codec::Pcmu, i));
    }
    // Paced, not burst: four 20 ms intervals between the first and last.
    let spread = received[4].at - received[0].at;
    assert!(
        spread >= Duration::from_millis(70),
        "5 packets sent in {spread:?}"
    );

    assert_eq!(next_event(&mut events).await, MediaEvent::PlaybackFinished);
    assert_eq!(
        count_within(&phone, Duration::from_millis(100)).await,
        0,
        "nothing after the prompt"
    );
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_sent, 5);
}

#[tokio::test]
async fn queued_prompts_play_in_order_as_one_talkspurt() {
    let (media, phone) = (socket().await, socket().await);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&phone)), None));
    let (a, b) = (prompt(2), Prompt::from_pcm("b", &tone('1', 60, 4000.0)));
    handle
        .play(vec![a.clone(), b.clone()])
        .expect("session alive");
    let expected: Vec<&[u8]> = a.frames(Codec::Pcmu).chain(b.frames(Codec::Pcmu)).collect();
    for (i, frame) in expected.iter().enumerate() {
        let r = recv(&phone).await;
        assert_eq!(r.packet().payload(), *frame, "frame {i}");
        assert_eq!(r.packet().marker(), i == 0);
    }
    assert_eq!(next_event(&mut events).await, MediaEvent::PlaybackFinished);
}

#[tokio::test]
async fn rfc4733_key_press_is_exactly_one_digit() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) =
        RtpSession::start(media, config(Some(addr(&phone)), Some(TELEPHONE_EVENT)));
    let mut seq = 1000;
    send_key_press(&phone, media_addr, 5, 8000, &mut seq, 4).await;
    send_key_press(&phone, media_addr, 11, 16_000, &mut seq, 2).await;

    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    expect_digit(&mut events, '5', DigitSource::Rfc4733).await;
    expect_digit(&mut events, '#', DigitSource::Rfc4733).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_received, 12);
}

#[tokio::test]
async fn events_and_audio_with_different_ssrcs_still_give_one_digit_per_key() {
    // Some gateways send telephone-events with an SSRC of their own,
    // interleaved with the audio stream.
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) =
        RtpSession::start(media, config(Some(addr(&phone)), Some(TELEPHONE_EVENT)));
    let audio_ssrc = 0x0A0D_10AA;
    let mut audio_seq = 7;
    for (i, key) in [(0u16, 6u8), (10, 9)] {
        for n in 0..6u16 {
            let end = n >= 3;
            let payload = TelephoneEvent {
                event: key,
                end,
                volume: 10,
                duration: 400 * (n + 1),
            }
            .to_bytes();
            let ts = 4000 + 8000 * u32::from(i);
            send_rtp(
                &phone,
                media_addr,
                header(TELEPHONE_EVENT, n == 0, 100 + i + n, ts),
                &payload,
            )
            .await;
            let audio = RtpHeader {
                ssrc: audio_ssrc,
                ..header(0, false, audio_seq, 160 * u32::from(audio_seq))
            };
            send_rtp(&phone, media_addr, audio, &[0xFF; 160]).await;
            audio_seq += 1;
        }
    }
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    expect_digit(&mut events, '6', DigitSource::Rfc4733).await;
    expect_digit(&mut events, '9', DigitSource::Rfc4733).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_received, 24);
}

#[tokio::test]
async fn inband_tone_is_a_digit_when_no_telephone_event_was_negotiated() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&phone)), None));
    let pcm = [silence(40), tone('7', 100, 5000.0), silence(100)].concat();
    let (mut seq, mut ts) = (1, 0);
    send_audio(&phone, media_addr, &pcm, &mut seq, &mut ts).await;

    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    expect_digit(&mut events, '7', DigitSource::Inband).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_received, 12);
}

#[tokio::test]
async fn inband_tone_is_ignored_when_telephone_event_was_negotiated() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) =
        RtpSession::start(media, config(Some(addr(&phone)), Some(TELEPHONE_EVENT)));
    // A phone that sends both: the tone in the audio, then the event.
    let pcm = [tone('3', 100, 5000.0), silence(60)].concat();
    let (mut seq, mut ts) = (1, 0);
    send_audio(&phone, media_addr, &pcm, &mut seq, &mut ts).await;
    send_key_press(&phone, media_addr, 3, ts, &mut seq, 1).await;

    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    // The audio packets were handled before the event packets (one socket,
    // in order): the only digit is the RFC 4733 one.
    expect_digit(&mut events, '3', DigitSource::Rfc4733).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_received, 8 + 4);
}

#[tokio::test]
async fn stop_ends_playback_within_one_packet() {
    let (media, phone) = (socket().await, socket().await);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&phone)), None));
    handle.play(vec![prompt(100)]).expect("session alive");
    for _ in 0..3 {
        recv(&phone).await;
    }
    handle.stop().expect("session alive");
    let after_stop = count_within(&phone, Duration::from_millis(150)).await;
    assert!(after_stop <= 1, "{after_stop} packets after stop()");
    // Stopped, not finished: the next event is Closed, not PlaybackFinished.
    handle.close().expect("session alive");
    match next_event(&mut events).await {
        MediaEvent::Closed { stats } => assert!(stats.packets_sent <= 4, "{stats:?}"),
        other => panic!("expected Closed, got {other:?}"),
    }
    let after_close = timeout(WAIT, events.recv())
        .await
        .expect("channel closes with the session");
    assert!(after_close.is_none(), "nothing after Closed");
}

#[tokio::test]
async fn symmetric_rtp_sends_to_where_the_callers_packets_come_from() {
    // The SDP says one address (a NATed phone's private one); the packets
    // really come from another.
    let (media, sdp_address, phone) = (socket().await, socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&sdp_address)), None));
    handle.play(vec![prompt(100)]).expect("session alive");

    // Before any packet from the caller: the SDP address.
    let before = recv(&sdp_address).await;
    assert_eq!(before.from, media_addr);

    send_rtp(&phone, media_addr, header(0, true, 1, 0), &[0xFF; 160]).await;
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );

    // From now on: the real source, same stream.
    let after = recv(&phone).await;
    let (b, a) = (before.packet(), after.packet());
    assert_eq!(a.ssrc(), b.ssrc());
    assert!(a.sequence().wrapping_sub(b.sequence()) < 10);
    let second = recv(&phone).await;
    assert_eq!(second.packet().sequence(), a.sequence().wrapping_add(1));

    // A stranger with the same SSRC does not move the latch.
    let stranger = socket().await;
    send_rtp(
        &stranger,
        media_addr,
        header(0, false, 2, 160),
        &[0xFF; 160],
    )
    .await;
    recv(&phone).await;
    assert_eq!(count_within(&stranger, Duration::from_millis(60)).await, 0);
    handle.stop().expect("session alive");
}

/// Four packets of one RFC 4733 key press of `event` from `from`.
async fn key_press_from(from: &UdpSocket, to: SocketAddr, event: u8, ssrc: u32) {
    let mut buf = Vec::new();
    for i in 0..4u16 {
        let payload = TelephoneEvent {
            event,
            end: i > 0,
            volume: 10,
            duration: 400,
        }
        .to_bytes();
        let h = RtpHeader {
            ssrc,
            ..header(TELEPHONE_EVENT, i == 0, 500 + i, 90_000)
        };
        write_packet(&mut buf, &h, &payload);
        from.send_to(&buf, to).await.expect("loopback send");
    }
}

#[tokio::test]
async fn a_stranger_neither_takes_the_audio_nor_presses_keys() {
    let (media, phone, stranger) = (socket().await, socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) = RtpSession::start(media, config(None, Some(TELEPHONE_EVENT)));
    send_rtp(&phone, media_addr, header(0, true, 1, 0), &[0xFF; 160]).await;
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );

    // Another source, with its own SSRC, in the latch window: it presses
    // 9 (the crisis key), then the phone presses 4.
    key_press_from(&stranger, media_addr, 9, 0x0BAD_CAFE).await;
    key_press_from(&phone, media_addr, 4, 0x1234).await;
    expect_digit(&mut events, '4', DigitSource::Rfc4733).await;

    // The prompt goes to the phone, never to the stranger.
    handle.play(vec![prompt(3)]).expect("session alive");
    let r = recv(&phone).await;
    assert_eq!(r.from, media_addr);
    assert_eq!(count_within(&stranger, Duration::from_millis(80)).await, 0);
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.strangers, 4, "{stats:?}");
}

#[tokio::test]
async fn the_sdp_address_takes_the_latch_back_from_a_racing_stranger() {
    let (media, phone, stranger) = (socket().await, socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) =
        RtpSession::start(media, config(Some(addr(&phone)), Some(TELEPHONE_EVENT)));
    // The stranger is first (it is latched: it could be the phone behind NAT)...
    send_rtp(&stranger, media_addr, header(0, true, 1, 0), &[0xFF; 160]).await;
    assert!(matches!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { .. }
    ));
    // ...until the address the SDP named sends: from then on, only it.
    key_press_from(&phone, media_addr, 4, 0x1234).await;
    expect_digit(&mut events, '4', DigitSource::Rfc4733).await;
    key_press_from(&stranger, media_addr, 9, 0x0BAD_CAFE).await;
    handle.play(vec![prompt(3)]).expect("session alive");
    recv(&phone).await;
    assert_eq!(count_within(&stranger, Duration::from_millis(80)).await, 0);
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.strangers, 4, "{stats:?}");
}

#[tokio::test]
async fn after_the_latch_window_only_the_sdp_address_is_latched() {
    let (media, phone, stranger) = (socket().await, socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) =
        RtpSession::start(media, config(Some(addr(&phone)), Some(TELEPHONE_EVENT)));
    tokio::time::sleep(LATCH_WINDOW + Duration::from_millis(100)).await;
    key_press_from(&stranger, media_addr, 9, 0x0BAD_CAFE).await;
    key_press_from(&phone, media_addr, 4, 0x1234).await;
    assert!(matches!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from } if from == addr(&phone)
    ));
    expect_digit(&mut events, '4', DigitSource::Rfc4733).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.strangers, 4, "{stats:?}");
}

#[tokio::test]
async fn nothing_goes_to_the_sdp_address_before_the_dialog_is_confirmed() {
    let (media, target) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let cfg = SessionConfig {
        confirmed: false,
        ..config(Some(addr(&target)), None)
    };
    let (handle, mut events) = RtpSession::start(media, cfg);
    handle.play(vec![prompt(100)]).expect("session alive");
    // An unauthenticated INVITE's SDP named `target`: it hears nothing.
    assert_eq!(count_within(&target, Duration::from_millis(200)).await, 0);
    // The ACK came.
    handle.confirm().expect("session alive");
    assert_eq!(recv(&target).await.from, media_addr);
    close(&handle, &mut events).await;
}

#[tokio::test]
async fn an_unconfirmed_call_still_hears_its_prompt_where_its_rtp_comes_from() {
    let (media, sdp_address, phone) = (socket().await, socket().await, socket().await);
    let media_addr = addr(&media);
    let cfg = SessionConfig {
        confirmed: false,
        ..config(Some(addr(&sdp_address)), None)
    };
    let (handle, mut events) = RtpSession::start(media, cfg);
    handle.play(vec![prompt(100)]).expect("session alive");
    send_rtp(&phone, media_addr, header(0, true, 1, 0), &[0xFF; 160]).await;
    assert_eq!(recv(&phone).await.from, media_addr);
    assert_eq!(
        count_within(&sdp_address, Duration::from_millis(100)).await,
        0
    );
    close(&handle, &mut events).await;
}

#[tokio::test]
async fn hold_stops_sending_and_the_timestamp_keeps_following_the_clock() {
    let (media, phone) = (socket().await, socket().await);
    let cfg = config(Some(addr(&phone)), None);
    let (handle, mut events) = RtpSession::start(media, cfg);
    handle.play(vec![prompt(50)]).expect("session alive");
    let first = recv(&phone).await;

    // Hold (a=recvonly): nothing is sent (but a packet already on its way).
    handle
        .update(SessionConfig { send: false, ..cfg })
        .expect("session alive");
    let in_flight = collect_within(&phone, Duration::from_millis(200)).await;
    assert!(in_flight.len() <= 1, "{} packets on hold", in_flight.len());
    let last_before = in_flight.last().unwrap_or(&first);

    // Resume: the first packet starts a talkspurt, and its timestamp has
    // advanced by the wall-clock time since the last packet.
    handle.update(cfg).expect("session alive");
    let first_after = recv(&phone).await;
    let (before, after) = (last_before.packet(), first_after.packet());
    assert!(after.marker(), "first packet after hold carries the marker");
    assert_eq!(after.sequence(), before.sequence().wrapping_add(1));
    let elapsed_samples = (first_after.at - last_before.at).as_secs_f64() * 8000.0;
    let ts_advance = f64::from(after.timestamp().wrapping_sub(before.timestamp()));
    assert!(
        (ts_advance - elapsed_samples).abs() < 400.0,
        "timestamp advanced {ts_advance} samples over {elapsed_samples} samples of wall clock"
    );
    assert_eq!(after.ssrc(), before.ssrc());
    let stats = close(&handle, &mut events).await;
    assert!(
        stats.packets_sent < 50,
        "frames on hold were not sent: {stats:?}"
    );
}

#[tokio::test]
async fn timestamp_advances_across_the_silence_between_prompts() {
    let (media, phone) = (socket().await, socket().await);
    let (handle, mut events) = RtpSession::start(media, config(Some(addr(&phone)), None));
    handle.play(vec![prompt(2)]).expect("session alive");
    recv(&phone).await;
    let last = recv(&phone).await;
    assert_eq!(next_event(&mut events).await, MediaEvent::PlaybackFinished);
    assert_eq!(count_within(&phone, Duration::from_millis(200)).await, 0);

    handle.play(vec![prompt(2)]).expect("session alive");
    let next = recv(&phone).await;
    let (a, b) = (last.packet(), next.packet());
    assert!(b.marker());
    assert_eq!(
        b.sequence(),
        a.sequence().wrapping_add(1),
        "no sequence gap for a silence"
    );
    let elapsed_samples = (next.at - last.at).as_secs_f64() * 8000.0;
    let ts_advance = f64::from(b.timestamp().wrapping_sub(a.timestamp()));
    assert!(
        ts_advance >= 1600.0,
        "at least 200 ms of silence: {ts_advance}"
    );
    assert!(
        (ts_advance - elapsed_samples).abs() < 400.0,
        "{ts_advance} vs {elapsed_samples}"
    );
}

#[tokio::test]
async fn codec_change_on_reinvite_switches_payload_type_and_encoding() {
    let (media, phone) = (socket().await, socket().await);
    let cfg = config(Some(addr(&phone)), None);
    let (handle, _events) = RtpSession::start(media, cfg);
    let prompt = prompt(40);
    handle
        .update(SessionConfig {
            codec: Codec::Pcma,
            ..cfg
        })
        .expect("session alive");
    handle.play(vec![prompt.clone()]).expect("session alive");
    let p = recv(&phone).await;
    assert_eq!(p.packet().payload_type(), 8);
    assert_eq!(Some(p.packet().payload()), prompt.frame(Codec::Pcma, 0));
}

#[tokio::test]
async fn malformed_datagrams_are_counted_and_ignored() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let (handle, mut events) = RtpSession::start(media, config(None, Some(TELEPHONE_EVENT)));
    for junk in [
        &b""[..],
        b"\x00\x01\x00\x00STUN-ish",
        b"\x80\x00",
        &[0xBF; 40],
    ] {
        phone
            .send_to(junk, media_addr)
            .await
            .expect("loopback send");
    }
    // Comfort noise (PT 13) is valid RTP we do not handle.
    send_rtp(&phone, media_addr, header(13, false, 1, 0), &[40]).await;
    let mut seq = 2;
    send_key_press(&phone, media_addr, 0, 160, &mut seq, 1).await;

    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    expect_digit(&mut events, '0', DigitSource::Rfc4733).await;
    let stats = close(&handle, &mut events).await;
    assert_eq!(
        (stats.malformed, stats.ignored, stats.packets_received),
        (4, 1, 4),
        "{stats:?}"
    );
}

#[tokio::test]
async fn empty_play_finishes_at_once_and_dropping_every_handle_closes() {
    let media = socket().await;
    let (handle, mut events) = RtpSession::start(media, config(None, None));
    handle.play(Vec::new()).expect("session alive");
    assert_eq!(next_event(&mut events).await, MediaEvent::PlaybackFinished);
    let clone = handle.clone();
    drop(handle);
    assert!(!clone.is_closed());
    drop(clone);
    assert!(matches!(
        next_event(&mut events).await,
        MediaEvent::Closed { .. }
    ));
}

#[tokio::test]
async fn playback_without_a_destination_still_finishes() {
    let media = socket().await;
    let (handle, mut events) = RtpSession::start(media, config(None, None));
    handle.play(vec![prompt(3)]).expect("session alive");
    assert_eq!(next_event(&mut events).await, MediaEvent::PlaybackFinished);
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_sent, 0);
    assert!(matches!(handle.play(vec![]), Err(SessionError::Closed)));
    assert!(handle.is_closed());
}

// --- ports -----------------------------------------------------------------

/// Two consecutive even ports `base`, `base + 2` that are free right now.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let base = fastrand::u16(20_000..30_000) * 2; // even, 40000..60000
        let free = |port| std::net::UdpSocket::bind((LOCALHOST, port)).is_ok();
        if free(base) && free(base + 2) {
            return base;
        }
    }
    panic!("no two free even ports found on loopback");
}

#[test]
fn allocator_range_covers_even_ports_only() {
    let cases = [
        (20_000, 29_999, 20_000, 5000),
        (40_001, 40_004, 40_002, 2),
        (65_535, 65_535, 0, 0),
        (7, 6, 0, 0),
    ];
    for (start, end, first, count) in cases {
        let allocator = PortAllocator::new(start..=end);
        let ports = allocator.lock();
        assert_eq!(ports.count, count, "{start}..={end}");
        if count > 0 {
            assert_eq!(ports.first, first);
            assert_eq!(ports.port(count - 1) % 2, 0);
            assert!(ports.port(count - 1) <= end);
        }
    }
}

#[tokio::test]
async fn allocator_skips_ports_in_use_and_releases_on_drop() {
    let base = free_port_pair();
    // Another program holds the first even port.
    let _other = std::net::UdpSocket::bind((LOCALHOST, base)).expect("free a moment ago");
    let allocator = PortAllocator::new(base..=base + 3);

    let socket = allocator.bind(LOCALHOST).await.expect("base + 2 is free");
    assert_eq!(socket.local_addr().expect("bound").port(), base + 2);
    assert_eq!(allocator.in_use(), 1);

    let err = allocator
        .bind(LOCALHOST)
        .await
        .expect_err("both even ports taken");
    assert!(
        matches!(err, SessionError::PortsExhausted { count: 2, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("{base}-{}", base + 3)),
        "{message}"
    );

    // The session owns the socket; when it ends the port comes back.
    let (handle, mut events) = RtpSession::start(socket, config(None, None));
    close(&handle, &mut events).await;
    assert_eq!(allocator.in_use(), 0);
    let again = allocator
        .bind(LOCALHOST)
        .await
        .expect("released port is free again");
    assert_eq!(again.local_addr().expect("bound").port(), base + 2);
}

#[tokio::test]
async fn allocator_hands_out_ports_in_no_predictable_order() {
    let base = 40_000;
    let allocator = PortAllocator::new(base..=base + 1_999);
    let mut sockets = Vec::new();
    for _ in 0..8 {
        sockets.push(allocator.bind(LOCALHOST).await.expect("a free port"));
    }
    let ports: Vec<u16> = sockets
        .iter()
        .map(|s| s.local_addr().expect("bound").port())
        .collect();
    assert!(ports.iter().all(|p| p % 2 == 0), "{ports:?}");
    // In sequence (each 2 above the last) once in 1000^7.
    assert!(
        ports.windows(2).any(|w| w[1] != w[0].wrapping_add(2)),
        "ports in sequence: {ports:?}"
    );
}

#[tokio::test]
async fn allocator_with_no_even_port_says_so() {
    let err = PortAllocator::new(65_535..=65_535)
        .bind(LOCALHOST)
        .await
        .expect_err("empty range");
    assert!(matches!(err, SessionError::PortsExhausted { count: 0, .. }));
}

#[tokio::test]
async fn a_caller_that_stops_sending_is_reported_once_until_it_sends_again() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let limit = Duration::from_millis(150);
    let cfg = SessionConfig {
        receive_timeout: Some(limit),
        ..config(Some(addr(&phone)), None)
    };
    let (handle, mut events) = RtpSession::start(media, cfg);
    send_rtp(&phone, media_addr, header(0, true, 1, 0), &[0xFF; 160]).await;
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) }
    );
    let MediaEvent::ReceiveTimeout { silent } = next_event(&mut events).await else {
        panic!("expected ReceiveTimeout");
    };
    assert!(silent >= limit, "reported after {silent:?}");
    // Said once: nothing more while the silence goes on.
    assert!(
        timeout(limit * 3, events.recv()).await.is_err(),
        "reported twice"
    );
    // The caller comes back, then goes quiet again: reported again.
    send_rtp(&phone, media_addr, header(0, false, 2, 160), &[0xFF; 160]).await;
    assert!(matches!(
        next_event(&mut events).await,
        MediaEvent::ReceiveTimeout { .. }
    ));
    close(&handle, &mut events).await;
}

#[tokio::test]
async fn no_receive_timeout_while_packets_flow_or_when_none_is_set() {
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let cfg = SessionConfig {
        receive_timeout: Some(Duration::from_millis(300)),
        ..config(Some(addr(&phone)), None)
    };
    let (handle, mut events) = RtpSession::start(media, cfg);
    // Comfort noise (payload type 13, ignored) shows the caller is alive too.
    for n in 0..16u16 {
        let pt = if n % 2 == 0 { 0 } else { 13 };
        send_rtp(
            &phone,
            media_addr,
            header(pt, n == 0, n, u32::from(n) * 160),
            &[0xFF; 160],
        )
        .await;
        if n == 0 {
            assert_eq!(
                next_event(&mut events).await,
                MediaEvent::FirstPacket { from: addr(&phone) }
            );
        }
        let quiet = timeout(Duration::from_millis(50), events.recv()).await;
        assert!(quiet.is_err(), "no event while packets flow: {quiet:?}");
    }
    // Hold with a=inactive: no timeout expected at all.
    handle
        .update(SessionConfig {
            receive_timeout: None,
            ..cfg
        })
        .expect("session alive");
    let quiet = timeout(Duration::from_millis(450), events.recv()).await;
    assert!(
        quiet.is_err(),
        "no event with no receive_timeout: {quiet:?}"
    );
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.packets_received, 8);
    assert_eq!(stats.ignored, 8);
}

#[tokio::test]
async fn an_srtp_call_is_heard_and_answered_only_in_its_keys() {
    use super::srtp::{MASTER_LEN, Srtp, SrtpKeys, SrtpSuite};
    let (media, phone) = (socket().await, socket().await);
    let media_addr = addr(&media);
    let keys = SrtpKeys {
        suite: SrtpSuite::AesCm128HmacSha1_80,
        send: [7; MASTER_LEN],
        recv: [9; MASTER_LEN],
    };
    let mut phone_side = Srtp::new(SrtpKeys {
        suite: keys.suite,
        send: keys.recv,
        recv: keys.send,
    })
    .unwrap();
    let cfg = SessionConfig {
        srtp: Some(keys),
        ..config(Some(addr(&phone)), Some(TELEPHONE_EVENT))
    };
    let (handle, mut events) = RtpSession::start(media, cfg);
    let press = |event: u8, seq: u16, i: u16| {
        let payload = TelephoneEvent {
            event,
            end: i >= 1,
            volume: 10,
            duration: (i + 1) * 400,
        }
        .to_bytes();
        let mut buf = Vec::new();
        write_packet(
            &mut buf,
            &header(TELEPHONE_EVENT, i == 0, seq, 8000 * u32::from(seq)),
            &payload,
        );
        buf
    };
    // Plain RTP (someone who knows the port, or a phone that ignored the
    // keys) is not heard: no key 4.
    for i in 0..4 {
        phone.send_to(&press(4, 1, i), media_addr).await.unwrap();
    }
    // A press protected with the phone's key: heard.
    for i in 0..4 {
        let protected = phone_side.protect(&press(5, 10 + i, i)).unwrap();
        phone.send_to(&protected, media_addr).await.unwrap();
    }
    assert_eq!(
        next_event(&mut events).await,
        MediaEvent::FirstPacket { from: addr(&phone) },
        "the first packet that authenticates"
    );
    expect_digit(&mut events, '5', DigitSource::Rfc4733).await;
    // What the session plays goes out encrypted, and decrypts.
    handle.play(vec![prompt(5)]).expect("session alive");
    let got = recv(&phone).await;
    let plain = phone_side.unprotect(&got.bytes).expect("authenticates");
    let packet = crate::rtp::RtpPacket::parse(&plain).unwrap();
    assert_eq!(packet.payload().len(), 160);
    assert_ne!(
        &got.bytes[12..172],
        packet.payload(),
        "encrypted on the wire"
    );
    let stats = close(&handle, &mut events).await;
    assert_eq!(stats.srtp_rejected, 4, "{stats:?}");
}

//! The call controller: one task per call, from the INVITE to the hang-up.
//!
//! It negotiates media (SDP offer/answer), opens the call's RTP session,
//! answers, then pumps three sources into the call's [`CallLogic`]: SIP
//! events (BYE, re-INVITE, INFO), media events (keys, prompts finished) and
//! the logic's own deadline. The logic's actions go back out to media and
//! SIP. Every log line of a call carries its Call-ID through the call span.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use frontdoor_ivr::CallInfo;
use frontdoor_ivr::regions::{Caller, normalize_caller};
use frontdoor_media::prompt::PromptStore;
use frontdoor_media::session::{MediaEvent, MediaHandle, PortAllocator, RtpSession, SessionConfig};
use frontdoor_sip::sdp::{self, LocalMedia, Negotiated};
use frontdoor_sip::ua::{EndReason, IncomingCall, OutboundCall, Party};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::flows::Flows;
use crate::logic::{Action, CallLogic, Input, Ivr, Record};
use crate::sip_driver::{CallEvent, SipHandle, sleep_until_opt};
use frontdoor_cti::protocol::{Disposition, RegionSource};
use frontdoor_cti::{CallAttribute, CallEvent as RecordEvent, CallEvents, now_ms};
use frontdoor_ivr::Target;

/// What every call shares.
pub struct Shared {
    /// The active flows and prompts; each call keeps the version it started with.
    pub flows: Arc<Flows>,
    /// Emergency mode, as operations set it.
    pub emergency: watch::Receiver<bool>,
    /// The call records (and, later, the screen pops).
    pub events: CallEvents,
    pub ports: PortAllocator,
    /// The address put in our SDP (where callers send RTP).
    pub media_ip: IpAddr,
    /// The address RTP sockets bind to.
    pub rtp_bind: IpAddr,
    /// Ring this long (180 Ringing) before answering; zero answers at once.
    pub answer_delay: Duration,
    /// Hang up when the caller's RTP stops for this long; `None`: never.
    pub rtp_timeout: Option<Duration>,
    /// Where calls to external SIP URIs go out, and with which credentials.
    pub trunk: crate::config::TrunkSection,
}

/// Run one call to its end.
pub async fn run(
    shared: Arc<Shared>,
    incoming: IncomingCall,
    sip: SipHandle,
    events: mpsc::UnboundedReceiver<CallEvent>,
) {
    let span = tracing::info_span!(
        "call",
        call_id = %incoming.call_id,
        caller = incoming.caller.as_deref().unwrap_or("withheld"),
    );
    async move {
        tracing::info!(peer = %incoming.peer, dialled = %incoming.dialled, "call arrived");
        let started = Instant::now();
        let records = shared.events.clone();
        let call_id = incoming.call_id.clone();
        record(
            &records,
            RecordEvent::Arrived {
                call_id: call_id.clone(),
                caller: incoming.caller.clone().unwrap_or_else(|| "withheld".into()),
                dialled: incoming.dialled.clone(),
                at_ms: now_ms(),
            },
        )
        .await;
        // Exactly one "call ended" line per call, answered or not.
        match Call::answer(&shared, &incoming, &sip, events).await {
            Ok(mut call) => {
                record(
                    &records,
                    RecordEvent::IvrAnswered {
                        call_id: call_id.clone(),
                        at_ms: now_ms(),
                    },
                )
                .await;
                let reason = call.run(&shared).await;
                let disposition = match &call.routed {
                    None => Disposition::AbandonedInIvr,
                    _ if call.bridged => Disposition::Transferred,
                    Some(Target::External(_)) => Disposition::Transferred,
                    // Until queues exist a routed call ends at its queue.
                    Some(_) => Disposition::AbandonedInQueue,
                };
                record(
                    &records,
                    RecordEvent::Ended {
                        call_id: call_id.clone(),
                        disposition,
                        at_ms: now_ms(),
                    },
                )
                .await;
                tracing::info!(
                    answered = true,
                    reason = reason
                        .as_ref()
                        .map_or("EngineStopped".to_owned(), |r| format!("{r:?}")),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "call ended"
                );
            }
            Err(not_answered) => {
                record(
                    &records,
                    RecordEvent::Ended {
                        call_id: call_id.clone(),
                        disposition: Disposition::AbandonedInIvr,
                        at_ms: now_ms(),
                    },
                )
                .await;
                let (reason, code) = match not_answered {
                    NotAnswered::Ended(Some(reason)) => (format!("{reason:?}"), None),
                    NotAnswered::Ended(None) => ("EngineStopped".to_owned(), None),
                    NotAnswered::Refused(code) => ("Refused".to_owned(), Some(code)),
                };
                tracing::info!(
                    answered = false,
                    reason,
                    code,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "call ended"
                );
            }
        }
    }
    .instrument(span)
    .await
}

/// Why a call never reached its logic.
enum NotAnswered {
    /// It ended first (CANCEL while ringing, an unusable late answer); `None`
    /// when the SIP side went away (the engine is stopping).
    Ended(Option<EndReason>),
    /// We refused it with this status (no common codec, no RTP port).
    Refused(u16),
}

struct Call {
    sip: SipHandle,
    events: mpsc::UnboundedReceiver<CallEvent>,
    media: MediaHandle,
    media_events: mpsc::Receiver<MediaEvent>,
    local: LocalMedia,
    negotiated: Negotiated,
    logic: Box<dyn CallLogic>,
    /// The recordings of the flow version this call runs on.
    prompts: Arc<PromptStore>,
    emergency: watch::Receiver<bool>,
    records: CallEvents,
    call_id: String,
    /// The last region learnt, until its source comes.
    region: Option<String>,
    /// Where the flow sent the call, once it has.
    routed: Option<Target>,
    /// The caller's number (E.164), presented on outbound legs.
    caller: Option<String>,
    /// The outbound leg of a call connected to an external URI.
    leg: Option<Leg>,
    /// The caller was connected to an outbound leg.
    bridged: bool,
}

/// The engine's outbound leg of a bridged call (B2BUA).
struct Leg {
    sip: SipHandle,
    events: mpsc::UnboundedReceiver<CallEvent>,
    /// Until the far end answers: the socket its media will use.
    socket: Option<frontdoor_media::session::RtpSocket>,
    media: Option<(MediaHandle, mpsc::Receiver<MediaEvent>)>,
    uri: String,
}

impl Call {
    /// Negotiate, open media and answer; or say why the call never got that far.
    async fn answer(
        shared: &Shared,
        incoming: &IncomingCall,
        sip: &SipHandle,
        mut events: mpsc::UnboundedReceiver<CallEvent>,
    ) -> Result<Call, NotAnswered> {
        if !shared.answer_delay.is_zero() {
            sip.ring();
            let answer_at = Instant::now() + shared.answer_delay;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(answer_at) => break,
                    event = events.recv() => match event {
                        // CANCEL while ringing.
                        Some(CallEvent::Ended { reason }) => return Err(NotAnswered::Ended(Some(reason))),
                        None => return Err(NotAnswered::Ended(None)),
                        Some(_) => {}
                    },
                }
            }
        }
        let socket = match shared.ports.bind(shared.rtp_bind).await {
            Ok(socket) => socket,
            Err(error) => {
                tracing::error!(%error, "no RTP port for the call: refusing it with 503");
                sip.reject(503);
                return Err(NotAnswered::Refused(503));
            }
        };
        let mut local = LocalMedia {
            addr: shared.media_ip,
            port: socket.local_addr().map(|a| a.port()).unwrap_or_default(),
            session_id: fastrand::u64(1..u64::MAX / 2),
            session_version: 1,
        };
        let negotiated = match &incoming.offer {
            Some(offer) => match sdp::answer(offer, &local) {
                Ok((answer, negotiated)) => {
                    sip.answer(answer);
                    negotiated
                }
                Err(error) => {
                    let code = error.status_code();
                    tracing::info!(%error, code, "refusing the call's media offer");
                    sip.reject(code);
                    return Err(NotAnswered::Refused(code));
                }
            },
            None => {
                // Late offer (RFC 3264 §4 with RFC 3261 §13.2.1): we offer in
                // the 200, the caller answers in the ACK.
                sip.answer(sdp::offer(&local, sdp::Direction::SendRecv));
                loop {
                    let Some(event) = events.recv().await else {
                        return Err(NotAnswered::Ended(None));
                    };
                    match event {
                        CallEvent::Confirmed {
                            answer: Some(answer),
                        } => match sdp::parse_answer(&answer) {
                            Ok(negotiated) => break negotiated,
                            Err(error) => {
                                tracing::info!(%error, "the caller's SDP answer is unusable: hanging up");
                                sip.hangup();
                                return Err(NotAnswered::Ended(wait_for_end(&mut events).await));
                            }
                        },
                        CallEvent::Confirmed { answer: None } => {
                            tracing::info!(
                                "late-offer call acknowledged without an SDP answer: hanging up"
                            );
                            sip.hangup();
                            return Err(NotAnswered::Ended(wait_for_end(&mut events).await));
                        }
                        CallEvent::Ended { reason } => {
                            return Err(NotAnswered::Ended(Some(reason)));
                        }
                        _ => {}
                    }
                }
            }
        };
        local.session_version += 1;
        tracing::info!(
            codec = ?negotiated.codec,
            remote = %negotiated.remote,
            local_port = local.port,
            telephone_event = ?negotiated.telephone_event,
            "media negotiated"
        );
        let (media, media_events) =
            RtpSession::start(socket, session_config(&negotiated, shared.rtp_timeout));
        // The flow version this call runs on, to its end.
        let active = shared.flows.current();
        let mut emergency = shared.emergency.clone();
        let info_caller = match &incoming.caller {
            Some(c) => normalize_caller(c),
            None => Caller::Withheld,
        };
        let info = CallInfo {
            caller: info_caller.clone(),
            dialled: incoming.dialled.clone(),
            at: jiff::Zoned::now().with_time_zone(frontdoor_ivr::schedule::zone()),
            emergency: *emergency.borrow_and_update(),
        };
        tracing::info!(version = %active.set.hash, emergency = info.emergency, "flow started");
        let logic: Box<dyn CallLogic> = Box::new(Ivr::new(active.set.clone(), info));
        Ok(Call {
            sip: sip.clone(),
            events,
            media,
            media_events,
            local,
            negotiated,
            logic,
            prompts: active.prompts.clone(),
            emergency,
            records: shared.events.clone(),
            call_id: incoming.call_id.clone(),
            region: None,
            routed: None,
            caller: match &info_caller {
                Caller::Number(n) => Some(n.clone()),
                _ => None,
            },
            leg: None,
            bridged: false,
        })
    }

    /// Pump events into the logic until the call ends; returns why it ended.
    async fn run(&mut self, shared: &Shared) -> Option<EndReason> {
        let actions = self.logic.start(std::time::Instant::now());
        self.apply(shared, actions).await;
        loop {
            let deadline = self.logic.poll_timeout().map(Instant::from_std);
            let input = tokio::select! {
                event = self.events.recv() => match event {
                    Some(CallEvent::Ended { reason }) => {
                        self.release_leg().await;
                        self.close_media().await;
                        return Some(reason);
                    }
                    Some(CallEvent::ReInvite { offer }) => {
                        self.reinvite(shared, offer);
                        continue;
                    }
                    Some(CallEvent::Info { content_type, body }) => {
                        match dtmf_from_info(&content_type, &body) {
                            Some(key) => Input::Key(key),
                            None => continue,
                        }
                    }
                    Some(CallEvent::Confirmed { .. }) => continue,
                    Some(other) => {
                        tracing::debug!(?other, "caller leg event");
                        continue;
                    }
                    None => {
                        self.release_leg().await;
                        self.close_media().await;
                        return None;
                    }
                },
                event = leg_event(&mut self.leg) => match self.on_leg_event(shared, event).await {
                    Some(input) => input,
                    None => continue,
                },
                media = self.media_events.recv() => match media {
                    Some(MediaEvent::Digit { digit, source }) => {
                        tracing::debug!(%digit, ?source, "DTMF");
                        Input::Key(digit)
                    }
                    Some(MediaEvent::PlaybackFinished) => Input::PromptsFinished,
                    Some(MediaEvent::ReceiveTimeout { silent }) => {
                        // A phone that lost its network never sends BYE.
                        tracing::warn!(silent_s = silent.as_secs(), "no RTP from the caller: hanging up");
                        self.sip.hangup();
                        continue;
                    }
                    Some(other) => {
                        tracing::debug!(?other, "media event");
                        continue;
                    }
                    None => {
                        // The media task is gone (it failed): end the call rather than leave it mute.
                        tracing::warn!("media session ended unexpectedly: hanging up");
                        self.sip.hangup();
                        return wait_for_end(&mut self.events).await;
                    }
                },
                Ok(()) = self.emergency.changed() => Input::Emergency(*self.emergency.borrow_and_update()),
                () = sleep_until_opt(deadline) => Input::Timeout,
            };
            let actions = self.logic.handle(std::time::Instant::now(), input);
            self.apply(shared, actions).await;
        }
    }

    async fn apply(&mut self, shared: &Shared, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Play(prompts) => {
                    let found: Vec<_> = prompts
                        .iter()
                        .filter_map(|p| {
                            let prompt = self.prompts.get(p.lang, &p.id);
                            if prompt.is_none() {
                                tracing::error!(lang = p.lang, id = %p.id, "prompt missing");
                            }
                            prompt
                        })
                        .collect();
                    tracing::debug!(prompts = ?prompts.iter().map(|p| format!("{}/{}", p.lang, p.id)).collect::<Vec<_>>(), "playing");
                    let _ = self.media.play(found);
                }
                Action::StopPlaying => {
                    let _ = self.media.stop();
                }
                Action::Hangup => self.sip.hangup(),
                Action::Record(r) => self.record(r).await,
                Action::Connect(uri) => {
                    if let Err(error) = self.connect(shared, &uri).await {
                        tracing::warn!(%uri, %error, "cannot connect the call");
                        let actions = self
                            .logic
                            .handle(std::time::Instant::now(), Input::ConnectFailed);
                        Box::pin(self.apply(shared, actions)).await;
                    }
                }
            }
        }
    }

    /// Put what the logic learnt in the call record.
    async fn record(&mut self, r: Record) {
        let call_id = self.call_id.clone();
        let at_ms = now_ms();
        let attribute = |attribute| RecordEvent::Attribute {
            call_id: call_id.clone(),
            attribute,
            at_ms,
        };
        let event = match r {
            Record::Step(step) => RecordEvent::Step {
                call_id: call_id.clone(),
                step,
                at_ms,
            },
            Record::Routed(route) => {
                self.routed = Some(route.target.clone());
                RecordEvent::Routed {
                    call_id: call_id.clone(),
                    route: match route.target {
                        Target::Centre(centre) => frontdoor_cti::Route::Queue { centre },
                        Target::Crisis => frontdoor_cti::Route::CrisisQueue,
                        Target::External(uri) => frontdoor_cti::Route::External { uri },
                    },
                    at_ms,
                }
            }
            Record::Attribute { name, value } => match name.as_str() {
                "language" => attribute(CallAttribute::Language(value)),
                "centre" => attribute(CallAttribute::Centre(value)),
                "topic" => attribute(CallAttribute::Topic(value)),
                "crisis" => attribute(CallAttribute::Crisis(value == "true")),
                "region" => {
                    self.region = Some(value);
                    return;
                }
                "region_source" => {
                    let Some(region) = self.region.clone() else {
                        return;
                    };
                    let source = if value == "region menu" {
                        RegionSource::RegionMenu
                    } else {
                        RegionSource::ExchangeTable
                    };
                    attribute(CallAttribute::Region { region, source })
                }
                // Known from the INVITE already.
                "caller" | "withheld" => return,
                // The flow's own attributes and collected digits go in the path.
                _ => RecordEvent::Step {
                    call_id: call_id.clone(),
                    step: format!("{name}={value}"),
                    at_ms,
                },
            },
        };
        record(&self.records, event).await;
    }

    /// Place the outbound leg to `uri`: a new RTP port, our offer, the
    /// caller's own number presented (From and P-Asserted-Identity), through
    /// the trunk when one is configured.
    async fn connect(&mut self, shared: &Shared, uri: &str) -> anyhow::Result<()> {
        let socket = shared
            .ports
            .bind(shared.rtp_bind)
            .await
            .map_err(|e| anyhow::anyhow!("no RTP port: {e}"))?;
        let local = LocalMedia {
            addr: shared.media_ip,
            port: socket.local_addr().map(|a| a.port()).unwrap_or_default(),
            session_id: fastrand::u64(1..u64::MAX / 2),
            session_version: 1,
        };
        let peer = resolve_target(uri, shared.trunk.proxy.as_deref()).await?;
        let mut outbound =
            OutboundCall::new(uri, peer, sdp::offer(&local, sdp::Direction::SendRecv));
        if let Some(number) = &self.caller {
            let identity = format!("sip:{number}@{}", shared.media_ip);
            outbound.from = Some(Party::new(None, identity.clone()));
            outbound
                .extra_headers
                .push(("P-Asserted-Identity".into(), format!("<{identity}>")));
        }
        if let (Some(user), Some(password)) = (&shared.trunk.username, &shared.trunk.password) {
            outbound.credentials = Some((user.clone(), password.clone()));
        }
        let (tx, events) = mpsc::unbounded_channel();
        let sip = self
            .sip
            .invite(outbound, tx)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(%uri, %peer, "connecting the call");
        self.leg = Some(Leg {
            sip,
            events,
            socket: Some(socket),
            media: None,
            uri: uri.to_owned(),
        });
        Ok(())
    }

    /// What the outbound leg's SIP says; an input for the logic when the
    /// leg failed.
    async fn on_leg_event(&mut self, shared: &Shared, event: Option<CallEvent>) -> Option<Input> {
        let leg = self.leg.as_mut()?;
        match event {
            Some(CallEvent::Progress { code }) => {
                tracing::info!(code, uri = %leg.uri, "far end ringing");
                None
            }
            Some(CallEvent::Answered { sdp: Some(answer) }) => {
                let negotiated = match sdp::parse_answer(&answer) {
                    Ok(n) => n,
                    Err(error) => {
                        tracing::warn!(%error, "the far end's SDP answer is unusable: hanging up both");
                        leg.sip.hangup();
                        self.sip.hangup();
                        return None;
                    }
                };
                let socket = leg.socket.take()?;
                let (media, media_events) =
                    RtpSession::start(socket, session_config(&negotiated, shared.rtp_timeout));
                if let Err(error) = self.media.bridge(&media) {
                    tracing::warn!(%error, "cannot bridge the legs: hanging up both");
                    leg.sip.hangup();
                    self.sip.hangup();
                }
                tracing::info!(uri = %leg.uri, codec = ?negotiated.codec, "bridged");
                self.bridged = true;
                leg.media = Some((media, media_events));
                None
            }
            Some(CallEvent::Answered { sdp: None }) => {
                tracing::warn!("the far end answered without SDP: hanging up both");
                leg.sip.hangup();
                self.sip.hangup();
                None
            }
            Some(CallEvent::Failed { code }) => {
                tracing::info!(code, uri = %leg.uri, "the far end did not answer");
                self.leg = None;
                Some(Input::ConnectFailed)
            }
            Some(CallEvent::Ended { reason }) => {
                tracing::info!(?reason, uri = %leg.uri, "the far end hung up: hanging up the caller");
                if let Some((media, _)) = &leg.media {
                    let _ = media.close();
                }
                self.leg = None;
                self.sip.hangup();
                None
            }
            Some(other) => {
                tracing::debug!(?other, "far end leg event");
                None
            }
            None => {
                self.leg = None;
                None
            }
        }
    }

    /// The caller is gone: end the outbound leg (BYE, or CANCEL while it rings).
    async fn release_leg(&mut self) {
        if let Some(leg) = self.leg.take() {
            leg.sip.hangup();
            if let Some((media, _)) = leg.media {
                let _ = media.close();
            }
        }
    }

    /// Close the media session and log its counters.
    async fn close_media(&mut self) {
        // A closed session's handle errors: nothing left to close then.
        let _ = self.media.close();
        let closed = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(event) = self.media_events.recv().await {
                if let MediaEvent::Closed { stats } = event {
                    return Some(stats);
                }
            }
            None
        });
        if let Ok(Some(stats)) = closed.await {
            tracing::info!(
                sent = stats.packets_sent,
                received = stats.packets_received,
                malformed = stats.malformed,
                late_wakeups = stats.late_wakeups,
                "media closed"
            );
        }
    }

    /// A re-INVITE: hold, unhold, a new media address or codec.
    fn reinvite(&mut self, shared: &Shared, offer: Option<Vec<u8>>) {
        let Some(offer) = offer else {
            // An offerless re-INVITE: offer our current media again.
            self.local.session_version += 1;
            let direction = self.negotiated.direction;
            self.sip
                .answer_reinvite(Ok(sdp::offer(&self.local, direction)));
            return;
        };
        self.local.session_version += 1;
        match sdp::answer(&offer, &self.local) {
            Ok((answer, negotiated)) => {
                tracing::info!(direction = ?negotiated.direction, remote = %negotiated.remote, "media updated by re-INVITE");
                let _ = self
                    .media
                    .update(session_config(&negotiated, shared.rtp_timeout));
                self.negotiated = negotiated;
                self.sip.answer_reinvite(Ok(answer));
            }
            Err(error) => {
                tracing::info!(%error, "re-INVITE offer refused; the call keeps its media");
                self.sip.answer_reinvite(Err(error.status_code()));
            }
        }
    }
}

fn session_config(n: &Negotiated, rtp_timeout: Option<Duration>) -> SessionConfig {
    SessionConfig {
        codec: match n.codec {
            sdp::Codec::Pcmu => frontdoor_media::Codec::Pcmu,
            sdp::Codec::Pcma => frontdoor_media::Codec::Pcma,
        },
        telephone_event_pt: n.telephone_event,
        remote: Some(n.remote),
        send: n.direction.sends(),
        // Only a call in full two-way media is expected to send: on any
        // kind of hold, many phones send nothing at all.
        receive_timeout: rtp_timeout.filter(|_| n.direction == sdp::Direction::SendRecv),
    }
}

/// SIP INFO digits: `application/dtmf-relay` and `application/dtmf`.
fn dtmf_from_info(content_type: &str, body: &[u8]) -> Option<char> {
    let ct = content_type.trim().to_ascii_lowercase();
    if ct.starts_with("application/dtmf-relay") || ct.starts_with("application/dtmf") {
        frontdoor_media::dtmf::parse_dtmf_relay(body)
    } else {
        tracing::debug!(content_type, "INFO ignored");
        None
    }
}

async fn wait_for_end(events: &mut mpsc::UnboundedReceiver<CallEvent>) -> Option<EndReason> {
    while let Some(event) = events.recv().await {
        if let CallEvent::Ended { reason } = event {
            return Some(reason);
        }
    }
    None
}

/// Send one event to the call record; the store applies back-pressure
/// rather than drop it. Only a stopped CTI task loses it, and says so.
async fn record(events: &CallEvents, event: RecordEvent) {
    if events.send(event).await.is_err() {
        tracing::error!("call record event lost: the store task has stopped");
    }
}

/// The next SIP event of the outbound leg; never ready without one. The
/// bridged leg's own media events are read (so their queue never fills)
/// and dropped: the caller's leg reports what matters.
async fn leg_event(leg: &mut Option<Leg>) -> Option<CallEvent> {
    let Some(leg) = leg else {
        return std::future::pending().await;
    };
    loop {
        match leg.media.as_mut() {
            Some((_, media_events)) => tokio::select! {
                event = leg.events.recv() => return event,
                Some(_) = media_events.recv() => continue,
            },
            None => return leg.events.recv().await,
        }
    }
}

/// Where to send the INVITE for `uri`: the trunk when configured, else the
/// URI's own host and port (5060 when none).
async fn resolve_target(uri: &str, proxy: Option<&str>) -> anyhow::Result<frontdoor_sip::Peer> {
    let hostport = match proxy {
        Some(p) => p.to_owned(),
        None => {
            let rest = uri
                .strip_prefix("sip:")
                .ok_or_else(|| anyhow::anyhow!("{uri} is not a sip: URI"))?;
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            let host = host.split(';').next().unwrap_or(host);
            if host.contains(':') {
                host.to_owned()
            } else {
                format!("{host}:5060")
            }
        }
    };
    let addr = tokio::net::lookup_host(&hostport)
        .await
        .map_err(|e| anyhow::anyhow!("cannot resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{hostport} has no address"))?;
    Ok(frontdoor_sip::Peer {
        transport: frontdoor_sip::Transport::Udp,
        addr,
    })
}

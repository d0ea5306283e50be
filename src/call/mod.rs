//! The call: one task per call, from the INVITE to the hang-up.
//!
//! It negotiates media (SDP offer/answer), opens the call's RTP session,
//! answers, then pumps its sources into two sans-IO cores: the caller's
//! SIP events (BYE, re-INVITE, INFO), media events (keys, prompts
//! finished), emergency mode and the logic's own deadline go to the call's
//! [`CallLogic`] (the IVR and hold); the queues' orders and the outbound
//! legs' SIP go to the [`B2bua`] core (which phone rings, which wins, what
//! is bridged). The task only carries out what the cores decide. Every log
//! line of a call carries its Call-ID through the call span.
//!
//! - `b2bua.rs`: the legs' state machine, tested in simulated time;
//! - `leg.rs`: placing, answering and ending an outbound leg (the I/O);
//! - `callback.rs`: a callback's task around the same core's
//!   [`b2bua::CallbackLegs`].

pub mod b2bua;
pub mod callback;
pub(crate) mod caller;
mod leg;

pub use caller::TrustedPeers;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use frontdoor_ivr::CallInfo;
use frontdoor_ivr::regions::Caller;
use frontdoor_media::prompt::PromptStore;
use frontdoor_media::session::{DigitSource, MediaEvent, MediaHandle, PortAllocator, RtpSession};
use frontdoor_sip::sdp::{self, LocalMedia, Negotiated};
use frontdoor_sip::ua::{EndReason, IncomingCall};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use self::b2bua::{Action as LegAction, B2bua, Input as LegInput, LegId, ToQueues};
use self::leg::{Leg, Legs, session_config};
use crate::flows::Flows;
use crate::logic::{Action, CallLogic, Input, Ivr, Record};
use crate::queues::{NewQueued, Queues, ToCall};
use crate::sip_driver::{CallEvent, Dialer, SipHandle, sleep_until_opt};
use frontdoor_cti::protocol::{Caller as CtiCaller, Disposition, MonitorMode, RegionSource};
use frontdoor_cti::{CallAttribute, CallEvent as RecordEvent, CallEvents, now_ms};
use frontdoor_ivr::{Fact, RegionSource as IvrRegionSource, Target};

/// What every call shares.
pub struct Shared {
    /// The active flows and prompts; each call keeps the version it started with.
    pub flows: Arc<Flows>,
    /// Emergency mode, as operations set it (and for which regions).
    pub emergency: watch::Receiver<crate::cti_glue::EmergencyNow>,
    /// Emergency mode's incident tag, recorded on the calls that arrive
    /// while it is set.
    pub incident: watch::Receiver<Option<String>>,
    /// The call records (and, later, the screen pops).
    pub events: CallEvents,
    /// The engine's counters and histograms (`/metrics`).
    pub status: Arc<frontdoor_cti::status::Status>,
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
    /// Places the outbound legs (external lines, navigators, callbacks).
    pub dialer: Dialer,
    /// The queues (the ACD task).
    pub queues: Queues,
    /// Waiting callers may ask to be called back (`[queues] callback` and a
    /// trunk to call them through).
    pub callbacks: bool,
    /// Peers whose P-Asserted-Identity gives the caller's number
    /// (`sip.trusted_proxies`).
    pub trusted: TrustedPeers,
    /// From this many calls in progress, a new call enters the crisis
    /// reserve (`[calls] crisis_reserve_percent` of `max_calls`); `None`: off.
    pub reserve_from: Option<usize>,
    /// The navigators' browser phones (a leg to one has no SIP).
    pub browsers: crate::phones::Browsers,
}

/// Run one call to its end.
pub async fn run(
    shared: Arc<Shared>,
    incoming: IncomingCall,
    sip: SipHandle,
    events: mpsc::UnboundedReceiver<CallEvent>,
) {
    // Who is calling, decided once: the IVR, the record, the screen pop
    // and the outbound legs all see this.
    let (caller, identity) = caller::identify(&incoming, &shared.trusted);
    // The call's own id (records, queues, the screen pop, the API): the
    // SIP Call-ID is the caller's choice, so it is only a field.
    let call_id = new_call_id();
    let span = tracing::info_span!(
        "call",
        call_id = %incoming.call_id,
        id = %call_id,
        caller = caller::logged(&caller),
    );
    async move {
        tracing::debug!(caller = caller::recorded(&caller), "caller's number");
        tracing::info!(
            peer = %incoming.peer,
            dialled = %incoming.dialled,
            identity = identity.as_str(),
            privacy = incoming.privacy_id,
            id = %call_id,
            "call arrived"
        );
        let started = Instant::now();
        let records = shared.events.clone();
        record(
            &records,
            RecordEvent::Arrived {
                call_id: call_id.clone(),
                caller: match &caller {
                    Caller::Number(n) | Caller::Unknown(n) => CtiCaller::Number(n.clone()),
                    Caller::Withheld => CtiCaller::Withheld,
                },
                dialled: incoming.dialled.clone(),
                at_ms: now_ms(),
            },
        )
        .await;
        record(
            &records,
            RecordEvent::Attribute {
                call_id: call_id.clone(),
                attribute: CallAttribute::SipCallId(incoming.call_id.clone()),
                at_ms: now_ms(),
            },
        )
        .await;
        // The incident is recorded on the calls emergency mode applies to.
        let region = shared
            .flows
            .current()
            .set
            .regions
            .lookup(&caller)
            .map(|(r, _)| r.to_owned());
        let applies = shared.emergency.borrow().applies(region.as_deref());
        let incident = shared.incident.borrow().clone().filter(|_| applies);
        if let Some(tag) = incident {
            record(
                &records,
                RecordEvent::Attribute {
                    call_id: call_id.clone(),
                    attribute: CallAttribute::Incident(tag),
                    at_ms: now_ms(),
                },
            )
            .await;
        }
        if let Some(diverted_from) = &incoming.diverted_from {
            record(
                &records,
                RecordEvent::Attribute {
                    call_id: call_id.clone(),
                    attribute: CallAttribute::DivertedFrom(diverted_from.clone()),
                    at_ms: now_ms(),
                },
            )
            .await;
        }
        // Exactly one "call ended" line per call, answered or not.
        match Call::answer(&shared, &incoming, &call_id, caller, &sip, events).await {
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
                    _ if call.callback => Disposition::Callback,
                    _ if call.b2bua.connected_external() => Disposition::Transferred,
                    _ if call.b2bua.talked_to_navigator() => Disposition::Answered,
                    Some(Target::External(_)) => Disposition::Transferred,
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

/// A new call's own id: 128 random bits from the OS's generator, in hex —
/// unguessable, and never the same as another call's.
pub fn new_call_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness (never seen on Linux): still unique, if guessable.
        bytes[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
        bytes[8..].copy_from_slice(&now_ms().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An input for one of the call's cores, or a record to write.
enum Work {
    Logic(Input),
    Legs(LegInput),
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
    emergency: watch::Receiver<crate::cti_glue::EmergencyNow>,
    /// The region of the caller's number, for emergency mode by region.
    region: Option<String>,
    records: CallEvents,
    call_id: String,
    /// Where the caller's signalling comes from.
    peer: IpAddr,
    /// Where the flow sent the call, once it has.
    routed: Option<Target>,
    /// The caller's number (E.164), presented on outbound legs.
    caller: Option<String>,
    /// The caller asked for privacy (`Privacy: id`): outside lines get the
    /// number only in P-Asserted-Identity, with `Privacy: id`.
    private: bool,
    /// The legs' decisions (navigator phones, external lines, consults).
    b2bua: B2bua,
    /// The outbound legs the core placed.
    legs: Legs,
    /// The mix of the caller's, the navigator's and a supervisor's legs,
    /// while a supervisor is on the call.
    mixer: Option<frontdoor_media::Mixer>,
    /// The caller asked to be called back.
    callback: bool,
    /// The call is a crisis call (the crisis key, a crisis route): its
    /// dialogs are the last hung up when a drain runs out of time.
    crisis: bool,
    /// Key presses seen, so that one sent both in the media and as INFO
    /// counts once.
    keys: frontdoor_media::dtmf::KeyOnce,
    /// What the queues say, once the call is queued.
    from_queues: Option<mpsc::UnboundedReceiver<ToCall>>,
    queues: Queues,
}

impl Call {
    /// Negotiate, open media and answer; or say why the call never got that far.
    async fn answer(
        shared: &Shared,
        incoming: &IncomingCall,
        call_id: &str,
        info_caller: Caller,
        sip: &SipHandle,
        mut events: mpsc::UnboundedReceiver<CallEvent>,
    ) -> Result<Call, NotAnswered> {
        let started = Instant::now();
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
            // SDES keys are only as safe as the signalling that carries them.
            srtp: incoming.peer.transport == frontdoor_sip::Transport::Tls,
        };
        let negotiated = match &incoming.offer {
            Some(offer) => match sdp::answer(offer, &local) {
                Ok((answer, negotiated)) => {
                    sip.answer(answer);
                    shared.status.observe_setup(started.elapsed());
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
                shared.status.observe_setup(started.elapsed());
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
            srtp = negotiated.srtp.as_ref().map(|s| s.suite.name()),
            "media negotiated"
        );
        // A late offer's answer came in the ACK: confirmed already.
        let mut config = session_config(&negotiated, shared.rtp_timeout, incoming.offer.is_none());
        config.remote =
            leg::callers_media_address(negotiated.remote, incoming.peer.addr.ip(), shared.media_ip);
        let (media, media_events) = RtpSession::start(socket, config);
        // The flow version this call runs on, to its end.
        let active = shared.flows.current();
        let mut emergency = shared.emergency.clone();
        let region = active
            .set
            .regions
            .lookup(&info_caller)
            .map(|(r, _)| r.to_owned());
        let info = CallInfo {
            caller: info_caller.clone(),
            dialled: incoming.dialled.clone(),
            at: jiff::Zoned::now().with_time_zone(frontdoor_ivr::schedule::zone()),
            emergency: emergency.borrow_and_update().applies(region.as_deref()),
        };
        tracing::info!(version = %active.set.hash, emergency = info.emergency, "flow started");
        record(
            &shared.events,
            RecordEvent::Attribute {
                call_id: call_id.to_owned(),
                attribute: CallAttribute::FlowVersion(active.set.hash.clone()),
                at_ms: now_ms(),
            },
        )
        .await;
        // Offered only to a number the dial plan lets the trunk call back.
        let callback_allowed = shared.callbacks
            && match &info_caller {
                Caller::Number(n) => shared.trunk.dial_plan().check(n).is_ok(),
                _ => false,
            };
        // Near the call limit the lines are kept for callers in crisis: a
        // new call hears that every line is busy, and only the crisis key
        // takes it further.
        let reserve = shared
            .reserve_from
            .is_some_and(|from| incoming.calls_in_progress > from);
        let ivr = Ivr::new(active.set.clone(), info, callback_allowed);
        let logic: Box<dyn CallLogic> = Box::new(if reserve { ivr.in_reserve() } else { ivr });
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
            region,
            records: shared.events.clone(),
            call_id: call_id.to_owned(),
            peer: incoming.peer.addr.ip(),
            routed: None,
            caller: caller::number(&info_caller).map(str::to_owned),
            private: incoming.privacy_id,
            b2bua: B2bua::new(),
            legs: Legs::default(),
            mixer: None,
            callback: false,
            crisis: false,
            keys: frontdoor_media::dtmf::KeyOnce::new(),
            from_queues: None,
            queues: shared.queues.clone(),
        })
    }

    /// Pump events into the cores until the call ends; returns why it ended.
    async fn run(&mut self, shared: &Shared) -> Option<EndReason> {
        let actions = self.logic.start(std::time::Instant::now());
        let mut work = std::collections::VecDeque::new();
        self.apply(actions, &mut work).await;
        self.work(shared, work).await;
        loop {
            let deadline = self.logic.poll_timeout().map(Instant::from_std);
            let input = tokio::select! {
                event = self.events.recv() => match event {
                    Some(CallEvent::Ended { reason }) => {
                        self.caller_gone(shared).await;
                        return Some(reason);
                    }
                    Some(CallEvent::ReInvite { offer }) => {
                        self.reinvite(shared, offer);
                        continue;
                    }
                    Some(CallEvent::Info { content_type, body }) => {
                        match dtmf_from_info(&content_type, &body) {
                            Some(key) => match self.key(key, DigitSource::SipInfo) {
                                Some(work) => work,
                                None => continue,
                            },
                            None => continue,
                        }
                    }
                    Some(CallEvent::Confirmed { .. }) => {
                        // The ACK: the caller's SDP address may hear us now.
                        let _ = self.media.confirm();
                        continue;
                    }
                    Some(other) => {
                        tracing::debug!(?other, "caller leg event");
                        continue;
                    }
                    None => {
                        self.caller_gone(shared).await;
                        return None;
                    }
                },
                (leg, event) = self.legs.next() => Work::Legs(LegInput::Leg { leg, event }),
                Some(order) = from_queues(&mut self.from_queues) => match self.on_queues(order) {
                    Some(work) => work,
                    None => continue,
                },
                media = self.media_events.recv() => match media {
                    Some(MediaEvent::Digit { digit, source }) => match self.key(digit, source) {
                        Some(work) => work,
                        None => continue,
                    },
                    Some(MediaEvent::PlaybackFinished) => Work::Logic(Input::PromptsFinished),
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
                Ok(()) = self.emergency.changed() => Work::Logic(Input::Emergency(
                    self.emergency.borrow_and_update().applies(self.region.as_deref()),
                )),
                () = sleep_until_opt(deadline) => Work::Logic(Input::Timeout),
            };
            self.work(shared, std::collections::VecDeque::from([input]))
                .await;
        }
    }

    /// The caller is gone: end the outbound legs, leave the queues, close
    /// the media.
    async fn caller_gone(&mut self, shared: &Shared) {
        let work = std::collections::VecDeque::from([Work::Legs(LegInput::CallerGone)]);
        self.work(shared, work).await;
        self.legs.release_all().await;
        self.leave_queues();
        self.close_media().await;
    }

    /// Hand inputs to the cores until neither has anything left to say.
    async fn work(&mut self, shared: &Shared, mut work: std::collections::VecDeque<Work>) {
        while let Some(next) = work.pop_front() {
            let now = std::time::Instant::now();
            match next {
                Work::Logic(input) => {
                    let actions = self.logic.handle(now, input);
                    self.apply(actions, &mut work).await;
                }
                Work::Legs(input) => {
                    let (before, since) = (self.b2bua.state_name(), self.b2bua.since());
                    let actions = self.b2bua.handle(now, input);
                    if self.b2bua.state_name() != before {
                        let held_ms = since.map(|t| now.duration_since(t).as_millis() as u64);
                        tracing::debug!(
                            from = before,
                            to = self.b2bua.state_name(),
                            ?held_ms,
                            "legs"
                        );
                    }
                    for action in actions {
                        self.carry_out(shared, action, &mut work).await;
                    }
                }
            }
        }
    }

    /// Carry out what the logic decided; inputs for the legs' core go to
    /// `work`.
    async fn apply(&mut self, actions: Vec<Action>, work: &mut std::collections::VecDeque<Work>) {
        for action in actions {
            match action {
                Action::Play(prompts) => {
                    let found = self.find_prompts(&prompts);
                    let _ = self.media.play(found);
                }
                Action::StopPlaying => {
                    let _ = self.media.stop();
                }
                Action::Hangup => self.sip.hangup(),
                Action::Record(r) => self.record(r).await,
                Action::PlayLoop(prompts) => {
                    let found = self.find_prompts(&prompts);
                    let _ = self.media.play_loop(found);
                }
                Action::Announce(prompts) => {
                    let found = self.find_prompts(&prompts);
                    let _ = self.media.announce(found);
                }
                Action::Queue(route) => self.enqueue(route),
                Action::RequestCallback => {
                    self.callback = true;
                    self.queues.callback_requested(&self.call_id);
                }
                Action::CrisisKey => self.queues.crisis_key(&self.call_id),
                Action::Connect(uri) => {
                    tracing::info!(%uri, "connecting the call");
                    work.push_back(Work::Legs(LegInput::ConnectExternal { uri }));
                }
            }
        }
    }

    /// Carry out one decision of the legs' core.
    async fn carry_out(
        &mut self,
        shared: &Shared,
        action: LegAction,
        work: &mut std::collections::VecDeque<Work>,
    ) {
        match action {
            LegAction::Place { leg, dial } => {
                match Leg::place(shared, &dial, self.caller.as_deref(), self.private).await {
                    Ok(placed) => {
                        if self.crisis {
                            placed.mark_crisis();
                        }
                        self.legs.insert(leg, placed)
                    }
                    Err(error) => {
                        tracing::warn!(uri = %dial.uri, %error, "cannot place the leg");
                        work.push_back(Work::Legs(LegInput::PlaceFailed {
                            leg,
                            why: error.to_string(),
                        }));
                    }
                }
            }
            LegAction::StartMedia { leg, negotiated } => {
                if let Some(placed) = self.legs.get_mut(leg) {
                    placed.start_media(&negotiated, shared.rtp_timeout);
                }
            }
            LegAction::Release(leg) => self.legs.release(leg).await,
            LegAction::BridgeCaller(leg) => {
                let bridged = match self.legs.media(leg) {
                    Some(media) => self.media.bridge(media).map_err(|e| e.to_string()),
                    None => Err("the leg has no media".into()),
                };
                match bridged {
                    Ok(()) => tracing::info!(uri = %self.legs.uri(leg), "bridged"),
                    Err(error) => {
                        tracing::warn!(%error, "cannot bridge the legs: hanging up both");
                        work.push_back(Work::Legs(LegInput::BridgeFailed));
                    }
                }
            }
            LegAction::BridgeLegs(a, b) => {
                if let (Some(ma), Some(mb)) = (self.legs.media(a), self.legs.media(b))
                    && let Err(error) = ma.bridge(mb)
                {
                    tracing::warn!(%error, "cannot bridge the navigator to the consulted line");
                }
            }
            LegAction::UnbridgeCaller => {
                let _ = self.media.unbridge();
            }
            LegAction::HangupCaller => self.sip.hangup(),
            LegAction::Mix {
                navigator,
                supervisor,
                mode,
            } => self.mix(navigator, supervisor, mode),
            LegAction::Unmix {
                navigator,
                supervisor,
            } => {
                self.mixer = None;
                let _ = self.media.unmix();
                for leg in [navigator, supervisor] {
                    if let Some(media) = self.legs.media(leg) {
                        let _ = media.unmix();
                    }
                }
            }
            LegAction::Queues(note) => self.tell_queues(note),
            LegAction::Logic(input) => work.push_back(Work::Logic(input)),
        }
    }

    /// Mixes the caller (member 0), the navigator (1) and the supervisor
    /// (2) for `mode`: the supervisor hears both; a whisper reaches the
    /// navigator; a barge-in both. Whoever hears nobody keeps the bridge.
    fn mix(&mut self, navigator: LegId, supervisor: LegId, mode: MonitorMode) {
        const CALLER: usize = 0;
        const NAVIGATOR: usize = 1;
        const SUPERVISOR: usize = 2;
        let (caller_hears, navigator_hears): (&[usize], &[usize]) = match mode {
            MonitorMode::Listen => (&[], &[]),
            MonitorMode::Whisper => (&[], &[CALLER, SUPERVISOR]),
            MonitorMode::Barge => (&[NAVIGATOR, SUPERVISOR], &[CALLER, SUPERVISOR]),
        };
        let mixer = self.mixer.get_or_insert_with(frontdoor_media::Mixer::new);
        let mixed = self
            .media
            .mix(mixer, CALLER, caller_hears)
            .and_then(|()| match self.legs.media(navigator) {
                Some(media) => media.mix(mixer, NAVIGATOR, navigator_hears),
                None => Err(frontdoor_media::SessionError::Closed),
            })
            .and_then(|()| match self.legs.media(supervisor) {
                Some(media) => media.mix(mixer, SUPERVISOR, &[CALLER, NAVIGATOR]),
                None => Err(frontdoor_media::SessionError::Closed),
            });
        match mixed {
            Ok(()) => tracing::info!(mode = mode.as_str(), "supervisor mixed into the call"),
            Err(error) => tracing::warn!(%error, "the supervisor's leg could not be mixed"),
        }
    }

    fn tell_queues(&mut self, note: ToQueues) {
        match note {
            ToQueues::Monitor { supervisor, report } => {
                tracing::info!(%supervisor, ?report, "supervisor on the call");
                self.queues.monitor(&self.call_id, &supervisor, report);
            }
            ToQueues::OfferAnswered { navigator, leg } => {
                // Bridged once the queues confirm (ToCall::Connect).
                let device = self.legs.uri(leg).to_owned();
                self.queues
                    .offer_answered(&self.call_id, &navigator, &device);
            }
            ToQueues::OfferFailed { navigator, why } => {
                tracing::info!(%navigator, %why, "the navigator's phones did not take the call");
                self.queues.offer_failed(&self.call_id, &navigator, &why);
            }
            ToQueues::TransferProgress {
                navigator,
                state,
                detail,
            } => {
                self.queues
                    .transfer_progress(&self.call_id, &navigator, state, &detail);
            }
            ToQueues::Held { navigator, held } => {
                tracing::info!(%navigator, held, "the navigator put the caller on hold or took them back");
                self.queues.held(&self.call_id, &navigator, held);
            }
            ToQueues::TransferCompleted { navigator, uri } => {
                tracing::info!(%uri, %navigator, "transfer completed: the caller is with the consulted line");
                self.from_queues = None;
                self.queues
                    .transfer_completed(&self.call_id, &navigator, &uri);
            }
        }
    }

    /// What the queues decided for this call: an input for a core.
    fn on_queues(&mut self, order: ToCall) -> Option<Work> {
        Some(match order {
            ToCall::Offer {
                navigator,
                contacts,
            } => {
                tracing::info!(%navigator, phones = contacts.len(), "offer to ring");
                Work::Legs(LegInput::Offer {
                    navigator,
                    phones: contacts,
                })
            }
            ToCall::CancelOffer { navigator } => {
                tracing::info!(%navigator, "offer withdrawn");
                Work::Legs(LegInput::CancelOffer { navigator })
            }
            ToCall::Connect { navigator } => {
                tracing::info!(%navigator, "connected to the navigator");
                Work::Legs(LegInput::Connect { navigator })
            }
            ToCall::Announce { position, wait } => Work::Logic(Input::Announce { position, wait }),
            ToCall::RouteExternal { target, crisis } => {
                if crisis {
                    self.mark_crisis();
                }
                self.from_queues = None;
                if target.is_empty() {
                    Work::Logic(Input::ConnectFailed)
                } else {
                    Work::Logic(Input::RouteExternal { target, crisis })
                }
            }
            ToCall::Release => Work::Legs(LegInput::Release),
            ToCall::Hangup => {
                self.sip.hangup();
                return None;
            }
            ToCall::TransferExternal { uri } => {
                self.from_queues = None;
                Work::Legs(LegInput::TransferExternal { uri })
            }
            ToCall::Consult { uri } => Work::Legs(LegInput::Consult { uri }),
            ToCall::Hold(on) => Work::Legs(LegInput::Hold { on }),
            ToCall::CompleteTransfer => Work::Legs(LegInput::CompleteTransfer),
            ToCall::CancelTransfer => Work::Legs(LegInput::CancelTransfer),
            ToCall::Monitor {
                supervisor,
                contacts,
                mode: Some(mode),
            } => Work::Legs(LegInput::Monitor {
                supervisor,
                phones: contacts,
                mode,
            }),
            ToCall::Monitor { mode: None, .. } => Work::Legs(LegInput::StopMonitor),
        })
    }

    /// A key from the caller, once however many ways the phone sent it.
    fn key(&mut self, digit: char, source: DigitSource) -> Option<Work> {
        if self.keys.take(digit, source, std::time::Instant::now()) {
            tracing::debug!(%digit, ?source, "DTMF");
            Some(Work::Logic(Input::Key(digit)))
        } else {
            tracing::debug!(%digit, ?source, "DTMF: the same press by another carrier, dropped");
            None
        }
    }

    /// From now on this is a crisis call, on every dialog it has.
    fn mark_crisis(&mut self) {
        if !self.crisis {
            self.crisis = true;
            self.sip.mark_crisis();
            self.legs.mark_crisis();
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
                if route.target == Target::Crisis {
                    self.mark_crisis();
                }
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
            Record::Fact(fact) => match fact {
                Fact::Language(lang) => {
                    attribute(CallAttribute::Language(lang.as_str().to_owned()))
                }
                Fact::Centre(centre) => attribute(CallAttribute::Centre(centre)),
                Fact::Topic(topic) => attribute(CallAttribute::Topic(topic)),
                Fact::Crisis(crisis) => {
                    if crisis {
                        self.mark_crisis();
                    }
                    attribute(CallAttribute::Crisis(crisis))
                }
                Fact::Region { region, source } => {
                    let source = match source {
                        IvrRegionSource::AreaCode => RegionSource::AreaCode,
                        IvrRegionSource::Exchange => RegionSource::Exchange,
                        IvrRegionSource::RegionMenu => RegionSource::RegionMenu,
                    };
                    attribute(CallAttribute::Region { region, source })
                }
                // Known from the INVITE already.
                Fact::Caller(_) => return,
                // The flow's own attributes and collected digits go in the path.
                Fact::Variable { name, value } => RecordEvent::Step {
                    call_id: call_id.clone(),
                    step: format!("{name}={value}"),
                    at_ms,
                },
            },
        };
        record(&self.records, event).await;
    }

    fn find_prompts(
        &self,
        prompts: &[crate::logic::PromptRef],
    ) -> Vec<frontdoor_media::prompt::Prompt> {
        prompts
            .iter()
            .filter_map(|p| {
                let prompt = self.prompts.get(p.lang, &p.id);
                if prompt.is_none() {
                    tracing::error!(lang = p.lang, id = %p.id, "prompt missing");
                }
                prompt
            })
            .collect()
    }

    /// Hand the call to the queues.
    fn enqueue(&mut self, route: frontdoor_ivr::Route) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.from_queues = Some(rx);
        let queue = match &route.target {
            Target::Crisis => frontdoor_acd::QueueId::Crisis,
            Target::Centre(c) => frontdoor_acd::QueueId::Centre(c.as_str().into()),
            Target::External(_) => return,
        };
        self.queues.queue(NewQueued {
            cti_id: self.call_id.clone(),
            caller: self.caller.clone(),
            queue,
            priority: route.priority,
            language: route.language.unwrap_or(frontdoor_ivr::Lang::En),
            to_call: tx,
        });
    }

    /// The caller is gone (or the call left for an external line): the
    /// queues forget it.
    fn leave_queues(&mut self) {
        if self.from_queues.take().is_some() {
            self.queues.caller_gone(&self.call_id);
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
                relayed = stats.packets_relayed,
                malformed = stats.malformed,
                srtp_rejected = stats.srtp_rejected,
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
                let mut config = session_config(&negotiated, shared.rtp_timeout, true);
                config.remote =
                    leg::callers_media_address(negotiated.remote, self.peer, shared.media_ip);
                let _ = self.media.update(config);
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

/// The next order from the queues; never ready when not queued.
async fn from_queues(rx: &mut Option<mpsc::UnboundedReceiver<ToCall>>) -> Option<ToCall> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

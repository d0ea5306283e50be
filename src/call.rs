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
use crate::queues::{NewQueued, Queues, ToCall};
use crate::sip_driver::{CallEvent, Dialer, SipHandle, sleep_until_opt};
use frontdoor_cti::protocol::{Disposition, RegionSource, TransferState};
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
    /// Places the outbound legs (external lines, navigators, callbacks).
    pub dialer: Dialer,
    /// The queues (the ACD task).
    pub queues: Queues,
    /// Waiting callers may ask to be called back (`[queues] callback` and a
    /// trunk to call them through).
    pub callbacks: bool,
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
                caller: match incoming.caller.clone() {
                    Some(number) => frontdoor_cti::protocol::Caller::Number(number),
                    None => frontdoor_cti::protocol::Caller::Withheld,
                },
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
                    _ if call.callback => Disposition::Callback,
                    _ if call.bridged => Disposition::Transferred,
                    _ if call.answered => Disposition::Answered,
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
    /// The outbound leg: an external line, or a navigator's phone.
    leg: Option<Leg>,
    /// The caller was connected to an external line.
    bridged: bool,
    /// The caller talked with a navigator.
    answered: bool,
    /// The caller asked to be called back.
    callback: bool,
    /// What the queues say, once the call is queued.
    from_queues: Option<mpsc::UnboundedReceiver<ToCall>>,
    /// The navigator's phones ringing for an offer (all at once; the first
    /// to answer takes the call).
    forks: Vec<Leg>,
    /// Why the last of them failed.
    fork_failure: Option<String>,
    /// The line a navigator consults before transferring the call to it
    /// (warm transfer), while the caller waits on hold.
    consult: Option<Leg>,
    queues: Queues,
}

/// The engine's outbound leg of a bridged call (B2BUA).
pub(crate) struct Leg {
    pub sip: SipHandle,
    pub events: mpsc::UnboundedReceiver<CallEvent>,
    /// Until the far end answers: the socket its media will use.
    socket: Option<frontdoor_media::session::RtpSocket>,
    pub media: Option<(MediaHandle, mpsc::Receiver<MediaEvent>)>,
    pub uri: String,
    /// The navigator whose phone this leg rings; `None`: an external line.
    pub navigator: Option<String>,
}

impl Leg {
    /// Place a leg to `uri` through `peer`: a new RTP port, our offer;
    /// `setup` adjusts the INVITE (From, headers, credentials).
    pub async fn place(
        shared: &Shared,
        uri: &str,
        peer: frontdoor_sip::Peer,
        setup: impl FnOnce(&mut OutboundCall),
    ) -> anyhow::Result<Leg> {
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
        let mut outbound =
            OutboundCall::new(uri, peer, sdp::offer(&local, sdp::Direction::SendRecv));
        setup(&mut outbound);
        let (tx, events) = mpsc::unbounded_channel();
        let sip = shared
            .dialer
            .invite(outbound, tx)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Leg {
            sip,
            events,
            socket: Some(socket),
            media: None,
            uri: uri.to_owned(),
            navigator: None,
        })
    }

    /// The far end answered with `answer`: start the leg's media.
    pub fn answered(
        &mut self,
        answer: Option<&[u8]>,
        rtp_timeout: Option<Duration>,
    ) -> anyhow::Result<&MediaHandle> {
        let answer = answer.ok_or_else(|| anyhow::anyhow!("answered without SDP"))?;
        let negotiated =
            sdp::parse_answer(answer).map_err(|e| anyhow::anyhow!("unusable SDP answer: {e}"))?;
        let socket = self
            .socket
            .take()
            .ok_or_else(|| anyhow::anyhow!("answered twice"))?;
        tracing::info!(uri = %self.uri, codec = ?negotiated.codec, "leg answered");
        let (media, media_events) =
            RtpSession::start(socket, session_config(&negotiated, rtp_timeout));
        Ok(&self.media.insert((media, media_events)).0)
    }

    /// End the leg: BYE (CANCEL while it rings), media closed and its
    /// counters logged.
    pub async fn release(self) {
        self.sip.hangup();
        let Some((media, mut events)) = self.media else {
            return;
        };
        let _ = media.close();
        let closed = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(event) = events.recv().await {
                if let MediaEvent::Closed { stats } = event {
                    return Some(stats);
                }
            }
            None
        });
        if let Ok(Some(stats)) = closed.await {
            tracing::info!(
                uri = %self.uri,
                navigator = self.navigator.as_deref().unwrap_or(""),
                sent = stats.packets_sent,
                received = stats.packets_received,
                relayed = stats.packets_relayed,
                "leg media closed"
            );
        }
    }
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
        let callback_allowed = shared.callbacks && matches!(info_caller, Caller::Number(_));
        let logic: Box<dyn CallLogic> =
            Box::new(Ivr::new(active.set.clone(), info, callback_allowed));
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
            answered: false,
            callback: false,
            from_queues: None,
            forks: Vec::new(),
            fork_failure: None,
            consult: None,
            queues: shared.queues.clone(),
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
                        self.leave_queues();
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
                        self.leave_queues();
                        self.close_media().await;
                        return None;
                    }
                },
                event = leg_event(&mut self.leg) => match self.on_leg_event(shared, event).await {
                    Some(input) => input,
                    None => continue,
                },
                event = leg_event(&mut self.consult) => match self.on_consult_event(shared, event).await {
                    Some(input) => input,
                    None => continue,
                },
                (fork, event) = fork_event(&mut self.forks) => {
                    self.on_fork_event(shared, fork, event).await;
                    continue;
                }
                Some(order) = from_queues(&mut self.from_queues) => match self.on_queues(shared, order).await {
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
                    let source = match value.as_str() {
                        "region menu" => RegionSource::RegionMenu,
                        "area code" => RegionSource::AreaCode,
                        _ => RegionSource::Exchange,
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
            Target::Crisis => crate::acd::QueueId::Crisis,
            Target::Centre(c) => crate::acd::QueueId::Centre(c.as_str().into()),
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

    /// What the queues decided for this call; an input for the logic.
    async fn on_queues(&mut self, shared: &Shared, order: ToCall) -> Option<Input> {
        match order {
            ToCall::Offer {
                navigator,
                contacts,
            } => {
                self.release_leg().await;
                self.ring_all(shared, &navigator, contacts).await;
                None
            }
            ToCall::CancelOffer { navigator } => {
                let theirs = |l: &Leg| l.navigator.as_deref() == Some(navigator.as_str());
                if self.leg.as_ref().is_some_and(theirs) || self.forks.iter().any(theirs) {
                    tracing::info!(%navigator, "offer withdrawn");
                    self.release_leg().await;
                }
                None
            }
            ToCall::Connect { navigator } => {
                let Some(leg) = self
                    .leg
                    .as_ref()
                    .filter(|l| l.navigator.as_deref() == Some(navigator.as_str()))
                else {
                    tracing::warn!(%navigator, "connect for a leg that is gone");
                    return None;
                };
                let Some((media, _)) = &leg.media else {
                    tracing::warn!(%navigator, "connect before the navigator answered");
                    return None;
                };
                if let Err(error) = self.media.bridge(media) {
                    tracing::warn!(%error, "cannot bridge the legs: hanging up both");
                    self.sip.hangup();
                    return None;
                }
                tracing::info!(%navigator, "connected to the navigator");
                self.answered = true;
                Some(Input::Bridged(true))
            }
            ToCall::Announce { position, wait } => Some(Input::Announce { position, wait }),
            ToCall::RouteExternal { target, crisis } => {
                self.from_queues = None;
                if target.is_empty() {
                    return Some(Input::ConnectFailed);
                }
                Some(Input::RouteExternal { target, crisis })
            }
            ToCall::Release => {
                self.release_leg().await;
                Some(Input::Bridged(false))
            }
            ToCall::Hangup => {
                self.sip.hangup();
                None
            }
            ToCall::TransferExternal { uri } => {
                self.release_leg().await;
                self.from_queues = None;
                Some(Input::RouteExternal {
                    target: uri,
                    crisis: false,
                })
            }
            ToCall::Consult { uri } => self.consult(shared, &uri).await,
            ToCall::CompleteTransfer => self.complete_transfer().await,
            ToCall::CancelTransfer => {
                let consult = self.consult.take()?;
                tracing::info!(uri = %consult.uri, "consult cancelled: back with the navigator");
                consult.release().await;
                self.progress(TransferState::Cancelled, "");
                self.back_to_navigator()
            }
        }
    }

    /// The navigator who has the call (bridged).
    fn navigator(&self) -> Option<String> {
        self.leg
            .as_ref()
            .filter(|l| l.media.is_some())
            .and_then(|l| l.navigator.clone())
    }

    fn progress(&self, state: TransferState, detail: &str) {
        if let Some(navigator) = self.navigator() {
            self.queues
                .transfer_progress(&self.call_id, &navigator, state, detail);
        }
    }

    /// A warm transfer: the caller on hold, the navigator's phone to
    /// `uri` once it answers.
    async fn consult(&mut self, shared: &Shared, uri: &str) -> Option<Input> {
        if self.navigator().is_none() || self.consult.is_some() {
            tracing::info!(%uri, "consult refused: no navigator on the call, or a consult already");
            self.progress(TransferState::Failed, "not possible now");
            return None;
        }
        let peer = match resolve_target(uri, shared.trunk.proxy.as_deref()).await {
            Ok(peer) => peer,
            Err(error) => {
                self.progress(TransferState::Failed, &error.to_string());
                return None;
            }
        };
        let caller = self.caller.clone();
        let media_ip = shared.media_ip;
        let trunk = shared.trunk.clone();
        let placed = Leg::place(shared, uri, peer, |outbound| {
            if let Some(number) = &caller {
                let identity = format!("sip:{number}@{media_ip}");
                outbound.from = Some(Party::new(None, identity.clone()));
                outbound
                    .extra_headers
                    .push(("P-Asserted-Identity".into(), format!("<{identity}>")));
            }
            if let (Some(user), Some(password)) = (&trunk.username, &trunk.password) {
                outbound.credentials = Some((user.clone(), password.clone()));
            }
        })
        .await;
        match placed {
            Ok(leg) => {
                tracing::info!(%uri, "consulting: the caller on hold");
                self.consult = Some(leg);
                let _ = self.media.unbridge();
                self.progress(TransferState::Ringing, uri);
                Some(Input::Consulting(true))
            }
            Err(error) => {
                self.progress(TransferState::Failed, &error.to_string());
                None
            }
        }
    }

    /// The consulted line's SIP.
    async fn on_consult_event(
        &mut self,
        shared: &Shared,
        event: Option<CallEvent>,
    ) -> Option<Input> {
        let consult = self.consult.as_mut()?;
        match event {
            Some(CallEvent::Answered { .. }) if consult.media.is_some() => None,
            Some(CallEvent::Answered { sdp }) => {
                let started = consult
                    .answered(sdp.as_deref(), shared.rtp_timeout)
                    .cloned();
                let nav_media = self
                    .leg
                    .as_ref()
                    .and_then(|l| l.media.as_ref())
                    .map(|(m, _)| m.clone());
                match (started, nav_media) {
                    (Ok(consult_media), Some(nav_media)) => {
                        // The navigator talks with the consulted line.
                        if let Err(error) = nav_media.bridge(&consult_media) {
                            tracing::warn!(%error, "cannot bridge the navigator to the consulted line");
                        }
                        self.progress(TransferState::Answered, "");
                        None
                    }
                    (Err(error), _) => {
                        let detail = error.to_string();
                        self.end_consult(TransferState::Failed, &detail).await
                    }
                    (Ok(_), None) => {
                        self.end_consult(TransferState::Failed, "the navigator left")
                            .await
                    }
                }
            }
            Some(CallEvent::Failed { code }) => {
                self.consult = None;
                self.progress(TransferState::Failed, &format!("SIP {code}"));
                self.back_to_navigator()
            }
            Some(CallEvent::Ended { .. }) | None => {
                self.consult = None;
                self.progress(TransferState::Failed, "the line hung up");
                self.back_to_navigator()
            }
            Some(other) => {
                tracing::debug!(?other, "consulted line event");
                None
            }
        }
    }

    async fn end_consult(&mut self, state: TransferState, detail: &str) -> Option<Input> {
        if let Some(consult) = self.consult.take() {
            consult.release().await;
        }
        self.progress(state, detail);
        self.back_to_navigator()
    }

    /// Bridge the caller and their navigator again.
    fn back_to_navigator(&mut self) -> Option<Input> {
        let nav_media = self.leg.as_ref()?.media.as_ref()?.0.clone();
        if let Err(error) = self.media.bridge(&nav_media) {
            tracing::warn!(%error, "cannot bridge the caller back to the navigator: hanging up");
            self.sip.hangup();
            return None;
        }
        Some(Input::Consulting(false))
    }

    /// The consulted line answered: it takes the caller; the navigator's
    /// leg ends.
    async fn complete_transfer(&mut self) -> Option<Input> {
        let answered = self.consult.as_ref().is_some_and(|c| c.media.is_some());
        if !answered {
            self.progress(TransferState::Failed, "the line has not answered yet");
            return None;
        }
        let consult = self.consult.take()?;
        let navigator = self.navigator().unwrap_or_default();
        let media = consult.media.as_ref()?.0.clone();
        if let Err(error) = self.media.bridge(&media) {
            tracing::warn!(%error, "cannot bridge the caller to the consulted line");
            self.consult = Some(consult);
            return self
                .end_consult(TransferState::Failed, "cannot connect")
                .await;
        }
        tracing::info!(uri = %consult.uri, %navigator, "transfer completed: the caller is with the consulted line");
        if let Some(nav) = self.leg.take() {
            nav.release().await;
        }
        let uri = consult.uri.clone();
        self.leg = Some(consult);
        self.bridged = true;
        self.from_queues = None;
        self.queues
            .transfer_completed(&self.call_id, &navigator, &uri);
        Some(Input::Transferred)
    }

    /// Ring every phone of the navigator at once; when none can be rung,
    /// tell the queues the offer failed.
    async fn ring_all(
        &mut self,
        shared: &Shared,
        navigator: &str,
        contacts: Vec<frontdoor_sip::registrar::Binding>,
    ) {
        self.fork_failure = Some("no registered phone".into());
        for contact in contacts {
            let caller = self.caller.clone();
            let media_ip = shared.media_ip;
            let placed = Leg::place(shared, &contact.uri, contact.peer, |out| {
                if let Some(number) = caller {
                    out.from = Some(Party::new(
                        Some(&number),
                        format!("sip:{number}@{media_ip}"),
                    ));
                }
            })
            .await;
            match placed {
                Ok(mut leg) => {
                    tracing::info!(%navigator, uri = %contact.uri, peer = %contact.peer, "ringing the navigator");
                    leg.navigator = Some(navigator.to_owned());
                    self.forks.push(leg);
                }
                Err(error) => {
                    tracing::warn!(%navigator, %error, "cannot ring the navigator");
                    self.fork_failure = Some(error.to_string());
                }
            }
        }
        if self.forks.is_empty() {
            let why = self.fork_failure.take().unwrap_or_default();
            self.queues.offer_failed(&self.call_id, navigator, &why);
        }
    }

    /// What one of the navigator's ringing phones says.
    async fn on_fork_event(&mut self, shared: &Shared, fork: usize, event: Option<CallEvent>) {
        let Some(navigator) = self.forks.get(fork).and_then(|l| l.navigator.clone()) else {
            return;
        };
        match event {
            Some(CallEvent::Progress { code }) => {
                tracing::info!(code, uri = %self.forks[fork].uri, "the navigator's phone rings");
            }
            Some(CallEvent::Answered { sdp }) => {
                let mut leg = self.forks.swap_remove(fork);
                // The first phone to answer takes the call; the others stop.
                for other in self.forks.drain(..) {
                    other.release().await;
                }
                match leg.answered(sdp.as_deref(), shared.rtp_timeout) {
                    Ok(_) => {
                        self.leg = Some(leg);
                        // Bridged once the queues confirm (ToCall::Connect).
                        self.queues.offer_answered(&self.call_id, &navigator);
                    }
                    Err(error) => {
                        tracing::warn!(%error, %navigator, "the navigator's phone answered unusably");
                        leg.release().await;
                        self.queues
                            .offer_failed(&self.call_id, &navigator, &error.to_string());
                    }
                }
            }
            Some(CallEvent::Failed { code }) => {
                let leg = self.forks.swap_remove(fork);
                tracing::info!(code, uri = %leg.uri, "the navigator's phone did not answer");
                let why = format!("SIP {code}");
                if matches!(code, 486 | 600 | 603) {
                    // Busy or declined on one phone: the navigator's answer.
                    for other in self.forks.drain(..) {
                        other.release().await;
                    }
                } else {
                    self.fork_failure = Some(why.clone());
                }
                if self.forks.is_empty() {
                    self.queues.offer_failed(&self.call_id, &navigator, &why);
                }
            }
            Some(other) => tracing::debug!(?other, "navigator phone event"),
            None => {
                self.forks.swap_remove(fork);
                if self.forks.is_empty() {
                    let why = self.fork_failure.take().unwrap_or_else(|| "gone".into());
                    self.queues.offer_failed(&self.call_id, &navigator, &why);
                }
            }
        }
    }

    /// Place the outbound leg to `uri` (an external line), presenting the
    /// caller's own number (From and P-Asserted-Identity), through the trunk
    /// when one is configured.
    async fn connect(&mut self, shared: &Shared, uri: &str) -> anyhow::Result<()> {
        self.release_leg().await;
        let peer = resolve_target(uri, shared.trunk.proxy.as_deref()).await?;
        let caller = self.caller.clone();
        let media_ip = shared.media_ip;
        let trunk = shared.trunk.clone();
        let leg = Leg::place(shared, uri, peer, |outbound| {
            if let Some(number) = &caller {
                let identity = format!("sip:{number}@{media_ip}");
                outbound.from = Some(Party::new(None, identity.clone()));
                outbound
                    .extra_headers
                    .push(("P-Asserted-Identity".into(), format!("<{identity}>")));
            }
            if let (Some(user), Some(password)) = (&trunk.username, &trunk.password) {
                outbound.credentials = Some((user.clone(), password.clone()));
            }
        })
        .await?;
        tracing::info!(%uri, %peer, "connecting the call");
        self.leg = Some(leg);
        Ok(())
    }

    /// What the outbound leg's SIP says; an input for the logic when the
    /// leg failed.
    async fn on_leg_event(&mut self, shared: &Shared, event: Option<CallEvent>) -> Option<Input> {
        let leg = self.leg.as_mut()?;
        let navigator = leg.navigator.clone();
        match event {
            Some(CallEvent::Progress { code }) => {
                tracing::info!(code, uri = %leg.uri, "far end ringing");
                None
            }
            Some(CallEvent::Answered { .. }) if leg.media.is_some() => None,
            Some(CallEvent::Answered { sdp }) => {
                let started = leg.answered(sdp.as_deref(), shared.rtp_timeout).cloned();
                match (started, navigator) {
                    (Ok(_), Some(navigator)) => {
                        // Bridged once the queues confirm (ToCall::Connect).
                        self.queues.offer_answered(&self.call_id, &navigator);
                    }
                    (Ok(media), None) => {
                        if let Err(error) = self.media.bridge(&media) {
                            tracing::warn!(%error, "cannot bridge the legs: hanging up both");
                            self.release_leg().await;
                            self.sip.hangup();
                            return None;
                        }
                        tracing::info!(uri = %leg.uri, "bridged");
                        self.bridged = true;
                    }
                    (Err(error), Some(navigator)) => {
                        tracing::warn!(%error, %navigator, "the navigator's phone answered unusably");
                        self.release_leg().await;
                        self.queues
                            .offer_failed(&self.call_id, &navigator, &error.to_string());
                    }
                    (Err(error), None) => {
                        tracing::warn!(%error, "the far end answered unusably: hanging up both");
                        self.release_leg().await;
                        self.sip.hangup();
                    }
                }
                None
            }
            Some(CallEvent::Failed { code }) => {
                tracing::info!(code, uri = %leg.uri, "the far end did not answer");
                self.leg = None;
                match navigator {
                    Some(navigator) => {
                        self.queues
                            .offer_failed(&self.call_id, &navigator, &format!("SIP {code}"));
                        None
                    }
                    None => Some(Input::ConnectFailed),
                }
            }
            Some(CallEvent::Ended { .. })
                if navigator.is_some()
                    && self.consult.as_ref().is_some_and(|c| c.media.is_some()) =>
            {
                // The navigator hung up while talking with the consulted
                // line: that completes the transfer.
                self.complete_transfer().await
            }
            Some(CallEvent::Ended { reason }) => {
                tracing::info!(?reason, uri = %leg.uri, "the far end hung up: hanging up the caller");
                if let Some(leg) = self.leg.take() {
                    leg.release().await;
                }
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
        if let Some(consult) = self.consult.take() {
            consult.release().await;
        }
        for fork in self.forks.drain(..) {
            fork.release().await;
        }
        if let Some(leg) = self.leg.take() {
            if leg.media.is_some() {
                let _ = self.media.unbridge();
            }
            leg.release().await;
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

pub(crate) fn session_config(n: &Negotiated, rtp_timeout: Option<Duration>) -> SessionConfig {
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

/// The next order from the queues; never ready when not queued.
async fn from_queues(rx: &mut Option<mpsc::UnboundedReceiver<ToCall>>) -> Option<ToCall> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next SIP event of one of the navigator's ringing phones (its index);
/// never ready without one. They have no media until one answers.
async fn fork_event(forks: &mut [Leg]) -> (usize, Option<CallEvent>) {
    if forks.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for (i, leg) in forks.iter_mut().enumerate() {
            if let std::task::Poll::Ready(event) = leg.events.poll_recv(cx) {
                return std::task::Poll::Ready((i, event));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The next SIP event of the outbound leg; never ready without one. The
/// bridged leg's own media events are read (so their queue never fills)
/// and dropped: the caller's leg reports what matters.
pub(crate) async fn leg_event(leg: &mut Option<Leg>) -> Option<CallEvent> {
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
pub(crate) async fn resolve_target(
    uri: &str,
    proxy: Option<&str>,
) -> anyhow::Result<frontdoor_sip::Peer> {
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

//! Requests that open or act on an incoming call (UAS, RFC 3261 §13.3):
//! the INVITE, re-INVITE, ACK and CANCEL, and resending our 2xx until its
//! ACK.

use std::cmp::Reverse;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Request};

use super::extensions::{self, Negotiation};
use super::identity;
use super::wire::{has_sdp_content_type, record_routes};
use super::{Call, CallRef, CallState, Datagram, EndReason, IncomingCall, UaEvent, UserAgent};
use crate::Peer;
use crate::guard::Shed;
use crate::message;
use crate::transaction::TransactionKey;

impl UserAgent {
    pub(super) fn on_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        peer: Peer,
        request: Request,
    ) {
        if self
            .config
            .accept_from
            .as_ref()
            .is_some_and(|trunks| !trunks.contains(peer.addr.ip()))
        {
            // Calls come only through the carrier's trunks.
            return self.respond(now, &key, &request, 403);
        }
        let dialled = request.uri.user().unwrap_or_default().to_owned();
        if !self.config.numbers.contains(&dialled) {
            return self.respond(now, &key, &request, 404);
        }
        let unsupported = extensions::unsupported(&request.headers);
        if !unsupported.is_empty() {
            // RFC 3261 §8.2.2.3: an extension we do not have is required.
            let mut response = message::response(&request, 420, None);
            response
                .headers
                .push(Header::Unsupported(rsip::headers::Unsupported::new(
                    unsupported.join(", "),
                )));
            return self.respond_with(now, &key, response);
        }
        let session = match extensions::negotiate(&request.headers, &self.config.session_timer) {
            Negotiation::None => None,
            Negotiation::Timer(timer) => Some(timer),
            Negotiation::TooSmall(min) => return self.too_small(now, &key, &request, min),
        };
        let source = peer.addr.ip();
        let full = !self.draining && self.calls.len() >= self.config.max_calls;
        let source_full = self.calls_limit(source).is_some_and(|limit| {
            let from_source = self
                .calls
                .values()
                .filter(|c| c.outbound.is_none() && c.peer.addr.ip() == source)
                .count();
            from_source >= limit
        });
        if self.draining || full || source_full {
            if full {
                self.shed(now, peer, Shed::Full);
            } else if source_full {
                self.shed(now, peer, Shed::SourceCalls);
            }
            let mut response = message::response(&request, 503, None);
            response
                .headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("30")));
            return self.respond_with(now, &key, response);
        }
        if !request.body.is_empty() && !has_sdp_content_type(&request) {
            // RFC 3261 §21.4.13: we only understand SDP bodies.
            let mut response = message::response(&request, 415, None);
            response
                .headers
                .push(Header::Accept(rsip::headers::Accept::new(
                    "application/sdp",
                )));
            return self.respond_with(now, &key, response);
        }
        // message::parse guarantees these headers exist and parse.
        let (Ok(call_id), Ok(from), Ok(to), Ok(cseq)) = (
            request.call_id_header(),
            request.from_header(),
            request.to_header(),
            request.cseq_header(),
        ) else {
            return self.respond(now, &key, &request, 400);
        };
        let call_id = call_id.value().to_owned();
        let remote_party = from.value().to_owned();
        let local_party = to.value().to_owned();
        let remote_cseq = cseq.seq().unwrap_or(0);
        let typed_from = from.typed().ok();
        let caller = typed_from.as_ref().and_then(|f| {
            let user = f.uri.user()?.to_owned();
            (!user.eq_ignore_ascii_case("anonymous")).then_some(user)
        });
        let caller_name = typed_from
            .as_ref()
            .and_then(|f| f.display_name.clone())
            .map(|n| n.trim_matches('"').to_owned())
            .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("anonymous"));
        let asserted = identity::asserted_identity(&request.headers);
        let diverted_from = extensions::diverted_from(&request.headers);
        let no_ringing = extensions::lists(&request.headers, "Require", "100rel");
        let privacy_id = identity::privacy_id(&request.headers);
        let remote_target = request
            .contact_header()
            .ok()
            .and_then(|c| c.typed().ok())
            .map(|c| c.uri.to_string())
            .unwrap_or_else(|| typed_from.map(|f| f.uri.to_string()).unwrap_or_default());
        let route_set = record_routes(&request.headers);
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let local_tag = message::new_tag();
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        self.calls.insert(
            call,
            Call {
                call_id: call_id.clone(),
                local_tag,
                local_party,
                remote_party,
                remote_target,
                route_set,
                local_cseq: fastrand::u32(1..0x7fff_ffff),
                remote_cseq,
                peer,
                state: CallState::AwaitingAnswer,
                invite_key: key,
                invite: request,
                reinvite: None,
                unacked: None,
                bye_pending: false,
                outbound: None,
                session,
                no_ringing,
            },
        );
        self.events.push_back(UaEvent::Incoming(IncomingCall {
            call,
            call_id,
            caller,
            caller_name,
            asserted,
            privacy_id,
            diverted_from,
            dialled,
            offer,
            peer,
            calls_in_progress: self.calls.len(),
        }));
    }

    /// RFC 3261 §12.2.2: in-dialog requests must carry a higher CSeq than the
    /// last one; a lower one gets 500. Returns whether to go on.
    pub(super) fn check_cseq(
        &mut self,
        now: Instant,
        call: CallRef,
        key: &TransactionKey,
        request: &Request,
    ) -> bool {
        let seq = request
            .cseq_header()
            .ok()
            .and_then(|h| h.seq().ok())
            .unwrap_or(0);
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if seq <= c.remote_cseq {
            self.respond(now, key, request, 500);
            return false;
        }
        c.remote_cseq = seq;
        true
    }

    /// A re-INVITE or an UPDATE (RFC 3311) in a dialog we answered: a
    /// session refresh (RFC 4028) and/or a new offer. An UPDATE without a
    /// body is answered here; an offer goes to the controller as
    /// [`UaEvent::ReInvite`].
    pub(super) fn on_reinvite(&mut self, now: Instant, key: TransactionKey, request: Request) {
        let Some(call) = self.find_dialog(&request) else {
            return self.respond(now, &key, &request, 481);
        };
        let update = request.method == rsip::Method::Update;
        let busy = {
            let c = &self.calls[&call];
            c.reinvite.is_some()
                || (c.unacked.is_some() && !update)
                || !matches!(c.state, CallState::Established)
        };
        if busy {
            // RFC 3261 §14.2 (RFC 3311 §5.2): an offer while one is still in progress.
            let mut response = message::response(&request, 491, None);
            response
                .headers
                .push(Header::RetryAfter(rsip::headers::RetryAfter::new("1")));
            return self.respond_with(now, &key, response);
        }
        let session = match extensions::negotiate(&request.headers, &self.config.session_timer) {
            Negotiation::None => None,
            Negotiation::Timer(timer) => Some(timer),
            Negotiation::TooSmall(min) => return self.too_small(now, &key, &request, min),
        };
        if !self.check_cseq(now, call, &key, &request) {
            return;
        }
        let offer = (!request.body.is_empty()).then(|| request.body.clone());
        // This value exists: `find_dialog` found it above.
        let c = self
            .calls
            .get_mut(&call)
            .expect("dialog maps to a live call");
        if c.outbound.is_none() {
            // A refresh restarts the timer; one without Session-Expires
            // turns it off (RFC 4028 §9).
            c.session = session;
            if let Some(session) = c.session.as_mut() {
                let due = session.restart(now);
                self.timers.push(Reverse((due, call)));
            }
        }
        if let Some(target) = request.contact_header().ok().and_then(|h| h.typed().ok()) {
            // RFC 3261 §12.2.2: a target refresh request updates the remote target.
            c.remote_target = target.uri.to_string();
        }
        if update && offer.is_none() {
            let mut response = message::response(&request, 200, Some(&c.local_tag));
            if let Some(session) = &c.session {
                response.headers.extend(session.response_headers());
            }
            return self.respond_with(now, &key, response);
        }
        c.reinvite = Some((key, request));
        self.events.push_back(UaEvent::ReInvite { call, offer });
    }

    /// 422 Session Interval Too Small, with our `Min-SE` (RFC 4028 §9).
    fn too_small(&mut self, now: Instant, key: &TransactionKey, request: &Request, min: u64) {
        let mut response = message::response(request, 422, None);
        response
            .headers
            .push(Header::Other("Min-SE".into(), min.to_string()));
        self.respond_with(now, key, response);
    }

    /// A call's session timer fired (`due` from the heap): refresh it with
    /// an UPDATE (we are the refresher), or end the call the caller
    /// stopped refreshing.
    pub(super) fn session_due(&mut self, now: Instant, call: CallRef, due: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(session) = c.session.as_mut() else {
            return;
        };
        if session.due != Some(due) || !matches!(c.state, CallState::Established) {
            return; // a stale heap entry, or a call already ending
        }
        session.due = None;
        match session.refresher {
            extensions::Refresher::Uac => {
                tracing::info!(call_id = %c.call_id, "session timer expired: the caller stopped refreshing");
                if let Err(error) = self.send_bye(now, call, EndReason::SessionExpired) {
                    tracing::warn!(%error, "could not send BYE");
                }
            }
            extensions::Refresher::Uas => {
                let headers = session.response_headers();
                c.local_cseq += 1;
                let mut request =
                    super::wire::build_in_dialog(&self.config, c, rsip::Method::Update);
                for h in headers {
                    request.headers.push(match h {
                        // Our refresh says we support timers, not that they must.
                        Header::Require(_) => {
                            Header::Supported(rsip::headers::Supported::new("timer"))
                        }
                        other => other,
                    });
                }
                match self.tx.request(now, c.peer, request) {
                    Ok(key) => {
                        self.refreshes.insert(key, call);
                    }
                    Err(error) => tracing::warn!(%error, "could not send a session refresh"),
                }
            }
        }
    }

    /// The answer to our session refresh (`None`: none came).
    pub(super) fn on_refresh_done(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Option<&rsip::Response>,
    ) {
        let code = response.map(|r| r.status_code.code());
        if code.is_some_and(|c| c < 200) {
            return;
        }
        let Some(call) = self.refreshes.remove(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Established) {
            return;
        }
        match code {
            Some(200..=299) => {
                if let Some(session) = c.session.as_mut() {
                    let due = session.restart(now);
                    self.timers.push(Reverse((due, call)));
                }
            }
            Some(481) => {
                // RFC 4028 §10: the dialog is gone at the other end.
                self.forget(call);
                self.events.push_back(UaEvent::Ended {
                    call,
                    reason: EndReason::SessionExpired,
                });
            }
            None | Some(408) => {
                if let Err(error) = self.send_bye(now, call, EndReason::SessionExpired) {
                    tracing::warn!(%error, "could not send BYE");
                }
            }
            Some(code) => {
                // The caller cannot take our refresh: keep them connected
                // (a 211 call is not cut off over a timer), without one.
                tracing::info!(call_id = %c.call_id, code, "session refresh refused: session timer stopped");
                c.session = None;
            }
        }
    }

    pub(super) fn on_ack(&mut self, now: Instant, request: Request) {
        let Some(call) = self.find_dialog(&request) else {
            tracing::debug!("ACK for no known dialog, ignored");
            return;
        };
        let seq = request
            .cseq_header()
            .ok()
            .and_then(|h| h.seq().ok())
            .unwrap_or(0);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.unacked.as_ref().is_some_and(|u| u.cseq == seq) {
            c.unacked = None;
        }
        if matches!(c.state, CallState::AwaitingAck) && seq == c.remote_cseq_of_invite() {
            c.state = CallState::Established;
            if let Some(session) = c.session.as_mut() {
                let due = session.restart(now);
                self.timers.push(Reverse((due, call)));
            }
            let answer = (!request.body.is_empty()).then(|| request.body.clone());
            self.events.push_back(UaEvent::Confirmed { call, answer });
            if c.bye_pending
                && let Err(error) = self.send_bye(now, call, EndReason::LocalBye)
            {
                tracing::warn!(%error, "could not send BYE");
            }
        }
    }

    pub(super) fn on_cancelled(&mut self, now: Instant, invite: &TransactionKey) {
        let Some(call) = self
            .calls
            .iter()
            .find(|(_, c)| c.invite_key == *invite)
            .map(|(call, _)| *call)
        else {
            return;
        };
        let c = &self.calls[&call];
        if !matches!(c.state, CallState::AwaitingAnswer) {
            // RFC 3261 §9.2: a CANCEL after the final response has no effect.
            return;
        }
        let response = message::response(&c.invite, 487, Some(&c.local_tag));
        let key = c.invite_key.clone();
        self.respond_with(now, &key, response);
        self.forget(call);
        self.events.push_back(UaEvent::Ended {
            call,
            reason: EndReason::Cancelled,
        });
    }

    pub(super) fn retransmit_2xx(&mut self, now: Instant, call: CallRef, due: Instant) {
        let t2 = self.config.timers.t2;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(u) = c.unacked.as_mut() else { return };
        if u.next != due && u.give_up != due {
            return; // a stale heap entry
        }
        if now >= u.give_up {
            c.unacked = None;
            if matches!(c.state, CallState::AwaitingAck) {
                // RFC 3261 §13.3.1.4: no ACK for 64*T1: confirm, then end the session.
                c.state = CallState::Established;
                if let Err(error) = self.send_bye(now, call, EndReason::AckTimeout) {
                    tracing::warn!(%error, "could not send BYE");
                }
            }
            return;
        }
        self.out.push_back(Datagram {
            peer: c.peer,
            bytes: u.bytes.clone(),
        });
        u.interval = (u.interval * 2).min(t2);
        u.next = (now + u.interval).min(u.give_up);
        self.timers.push(Reverse((u.next, call)));
    }
}

//! Calls we place (UAC, RFC 3261 §13.2): the B2BUA's legs to a navigator's
//! phone or the trunk. See the module comment of [`super`] for the events
//! and how requests are routed.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::Instant;

use rsip::headers::UntypedHeader;
use rsip::prelude::*;
use rsip::{Header, Method, Request, Response, SipMessage};

use super::wire::{allow_header, build_in_dialog, has_tag, record_routes, strip_tag, tag_of};
use super::{
    Call, CallRef, CallState, Datagram, OutInvite, Outbound, UaConfig, UaError, UaEvent, UserAgent,
};
use crate::message;
use crate::transaction::TransactionKey;
use crate::{Peer, Transport};

/// A name-addr for From / To (RFC 3261 §20.20): an optional display name and a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub display_name: Option<String>,
    /// A `sip:`/`sips:`/`tel:` URI, e.g. `sip:+16135550123@trunk.example`.
    pub uri: String,
}

impl Party {
    pub fn new(display_name: Option<&str>, uri: impl Into<String>) -> Self {
        Party {
            display_name: display_name.map(str::to_owned),
            uri: uri.into(),
        }
    }

    /// `"Name" <uri>` or `<uri>`, with the name quoted (RFC 3261 §25.1).
    pub(super) fn header_value(&self) -> String {
        let uri: String = self
            .uri
            .chars()
            .filter(|c| !matches!(c, '<' | '>' | '\r' | '\n'))
            .collect();
        match self.display_name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => format!("{} <{uri}>", crate::digest::quote(name)),
            None => format!("<{uri}>"),
        }
    }
}

/// An outbound call for [`UserAgent::invite`]: a navigator's phone (its
/// registered binding) or a target behind the trunk.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// The Request-URI: the binding's Contact URI, or e.g.
    /// `sip:988@trunk.example` for the crisis line.
    pub target_uri: String,
    /// Where the INVITE and every later request of the dialog go: the
    /// binding's source address ([`crate::registrar::Binding::peer`], for
    /// NAT) or the trunk's address.
    pub peer: Peer,
    /// Our From; `None`: `<sip:{from_user}@{from_domain}>` from
    /// [`UaConfig`]. For the crisis line, the caller's own number (issue 5 §7).
    pub from: Option<Party>,
    /// The To; `None`: the target URI.
    pub to: Option<Party>,
    /// Our SDP offer (sent as `application/sdp`). Late offer (empty) is
    /// not supported yet: the INVITE goes out without a body, but the ACK
    /// never carries an answer.
    pub sdp: Vec<u8>,
    /// Extra headers as (name, value), e.g. `("P-Asserted-Identity",
    /// "<sip:+16135550123@trunk.example>")`.
    pub extra_headers: Vec<(String, String)>,
    /// (username, password) to answer one 401/407 digest challenge (trunk).
    pub credentials: Option<(String, String)>,
    /// Next hops to try in turn when `peer` sends no response at all
    /// within [`UaConfig::failover_wait`], or answers 503 (RFC 3263 §4.3):
    /// the carrier's other trunks. Each gets the same INVITE, re-branched.
    pub alternates: Vec<Peer>,
    /// Follow a 3xx to the first `sip:`/`sips:` Contact it names (RFC 3261
    /// §8.1.3.4), through the same next hop, at most three times: for
    /// calls through the trunk. Otherwise a 3xx fails the call.
    pub follow_redirects: bool,
}

impl OutboundCall {
    /// A call to `target_uri` through `peer` offering `sdp`, with the default
    /// From and To, no extra headers and no credentials.
    pub fn new(target_uri: impl Into<String>, peer: Peer, sdp: Vec<u8>) -> Self {
        OutboundCall {
            target_uri: target_uri.into(),
            peer,
            from: None,
            to: None,
            sdp,
            extra_headers: Vec::new(),
            credentials: None,
            alternates: Vec::new(),
            follow_redirects: false,
        }
    }
}

impl UserAgent {
    /// Place an outbound call (RFC 3261 §13.2.1): build the INVITE and start
    /// its client transaction. What follows comes as events:
    /// [`UaEvent::Progress`] (1xx), then exactly one of
    /// [`UaEvent::Answered`] (2xx: the ACK is sent; later
    /// [`UaEvent::Ended`]) or [`UaEvent::Failed`].
    ///
    /// With `credentials`, one 401/407 is answered (same Call-ID and From
    /// tag, next CSeq, new branch, `Authorization` or
    /// `Proxy-Authorization`); a second challenge fails the call.
    pub fn invite(&mut self, now: Instant, outbound: OutboundCall) -> Result<CallRef, UaError> {
        let uri = message::parse_uri(outbound.target_uri.trim())
            .map_err(|_| UaError::BadUri(outbound.target_uri.clone()))?;
        let peer = outbound.peer;
        let local_party = match &outbound.from {
            Some(from) => from.header_value(),
            None => {
                let domain = self
                    .config
                    .from_domain
                    .clone()
                    .unwrap_or_else(|| host_of(self.config.local_addr));
                format!("<sip:{}@{domain}>", self.config.from_user)
            }
        };
        let remote_party = match &outbound.to {
            Some(to) => to.header_value(),
            None => format!("<{uri}>"),
        };
        let call_id = format!(
            "{}@{}",
            message::new_call_id(),
            host_of(self.config.local_addr)
        );
        let local_tag = message::new_tag();
        let cseq = 1;
        let mut headers = rsip::Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={};rport",
            peer.transport.via_token(),
            self.config.local_addr,
            message::new_branch()
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        headers.push(Header::From(rsip::headers::From::new(format!(
            "{local_party};tag={local_tag}"
        ))));
        headers.push(Header::To(rsip::headers::To::new(remote_party.clone())));
        headers.push(Header::CallId(rsip::headers::CallId::new(call_id.clone())));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{cseq} INVITE"
        ))));
        headers.push(Header::Contact(rsip::headers::Contact::new(
            outbound_contact(&self.config, peer.transport),
        )));
        headers.push(allow_header(&self.config));
        // We PRACK reliable provisional responses (RFC 3262); session
        // timers we only serve as a UAS, so `timer` is not offered here.
        headers.push(Header::Supported(rsip::headers::Supported::new("100rel")));
        headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
            self.config.product.clone(),
        )));
        for (name, value) in &outbound.extra_headers {
            let name: String = name
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != ':')
                .collect();
            if !name.is_empty() {
                headers.push(Header::Other(name, value.clone()));
            }
        }
        if !outbound.sdp.is_empty() {
            headers.push(Header::ContentType(rsip::headers::ContentType::new(
                "application/sdp",
            )));
        }
        headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
            outbound.sdp.len().to_string(),
        )));
        let request = Request {
            method: Method::Invite,
            uri,
            version: rsip::Version::V2,
            headers,
            body: outbound.sdp,
        };
        let key = self.tx.request(now, peer, request.clone())?;
        let call = CallRef(self.next_call);
        self.next_call += 1;
        let failover_at = (!outbound.alternates.is_empty()).then(|| {
            let at = now + self.config.failover_wait;
            self.timers.push(Reverse((at, call)));
            at
        });
        self.invites.insert(
            key.clone(),
            OutInvite {
                call,
                peer,
                call_id: call_id.clone(),
                local_party: local_party.clone(),
                local_tag: local_tag.clone(),
                cseq,
                invite: request.clone(),
                target: outbound.target_uri.trim().to_owned(),
                acks: Vec::new(),
            },
        );
        self.dialogs
            .insert((call_id.clone(), local_tag.clone()), call);
        self.calls.insert(
            call,
            Call {
                call_id,
                local_tag,
                local_party,
                remote_party,
                remote_target: outbound.target_uri.trim().to_owned(),
                route_set: Vec::new(),
                local_cseq: cseq,
                remote_cseq: 0,
                peer,
                state: CallState::Calling,
                invite_key: key,
                invite: request,
                reinvite: None,
                unacked: None,
                bye_pending: false,
                session: None,
                no_ringing: false,
                outbound: Some(Outbound {
                    digest: outbound
                        .credentials
                        .map(|(user, password)| crate::digest::DigestClient::new(user, password)),
                    auth_tried: false,
                    provisional: false,
                    cancelling: false,
                    cancel_deadline: None,
                    responded: false,
                    failover_at,
                    alternates: outbound.alternates,
                    follow_redirects: outbound.follow_redirects,
                    redirects: 0,
                    last_rseq: None,
                    early_answer: None,
                }),
            },
        );
        self.pump(now);
        Ok(call)
    }

    /// Cancel an outbound call not answered yet (RFC 3261 §9.1). The CANCEL
    /// goes out once a provisional response has arrived (at once if one
    /// has); the call then ends with [`UaEvent::Failed`] (487 normally; a
    /// final response that crossed the CANCEL keeps its code; a 2xx that
    /// crossed it is ACKed and BYEd and reported as 487). Idempotent.
    pub fn cancel(&mut self, now: Instant, call: CallRef) -> Result<(), UaError> {
        let t1 = self.config.timers.t1;
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(UaError::UnknownCall(call))?;
        let (CallState::Calling, Some(out)) = (&c.state, c.outbound.as_mut()) else {
            return Err(UaError::WrongState {
                call,
                action: "cancel",
            });
        };
        if out.cancelling {
            return Ok(());
        }
        self.tx.cancel(now, &c.invite_key)?;
        out.cancelling = true;
        if out.provisional {
            let deadline = now + 64 * t1;
            out.cancel_deadline = Some(deadline);
            self.timers.push(Reverse((deadline, call)));
        }
        self.pump(now);
        Ok(())
    }

    /// A response to one of our INVITEs (RFC 3261 §13.2.2).
    pub(super) fn on_invite_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Response,
    ) {
        if let Some(call) = self.calling(key)
            && let Some(out) = self.calls.get_mut(&call).and_then(|c| c.outbound.as_mut())
        {
            out.responded = true;
        }
        match response.status_code.code() {
            100..=199 => self.on_provisional(now, key, &response),
            200..=299 => self.on_invite_2xx(now, key, response),
            300..=699 => self.on_invite_failure(now, key, &response),
            _ => {}
        }
    }

    /// The outbound call still waiting for the final response of `key`.
    pub(super) fn calling(&self, key: &TransactionKey) -> Option<CallRef> {
        let call = self.invites.get(key)?.call;
        let c = self.calls.get(&call)?;
        (matches!(c.state, CallState::Calling) && c.invite_key == *key).then_some(call)
    }

    pub(super) fn on_provisional(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: &Response,
    ) {
        let t1 = self.config.timers.t1;
        let code = response.status_code.code();
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(to) = response.to_header().ok().filter(|to| has_tag(to.value())) {
            // RFC 3261 §12.1.2: an early dialog (the 2xx may still come from
            // another fork; it defines the confirmed dialog).
            c.remote_party = to.value().to_owned();
        }
        let Some(out) = c.outbound.as_mut() else {
            return;
        };
        out.provisional = true;
        if out.cancelling && out.cancel_deadline.is_none() {
            // The transaction layer sends the pending CANCEL now.
            let deadline = now + 64 * t1;
            out.cancel_deadline = Some(deadline);
            self.timers.push(Reverse((deadline, call)));
        }
        if code > 100 && reliable(response) {
            let rseq = rseq_of(response);
            let new = match (rseq, out.last_rseq) {
                (Some(r), Some(last)) => r > last,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !new {
                // A retransmission of a 1xx already PRACKed (or one without
                // RSeq, which cannot be PRACKed): nothing new.
                return;
            }
            out.last_rseq = rseq;
            if !response.body.is_empty() {
                out.early_answer = Some(response.body.clone());
            }
            self.send_prack(now, key, call, response);
        }
        if code > 100 {
            self.events.push_back(UaEvent::Progress { call, code });
            if !response.body.is_empty() {
                self.events.push_back(UaEvent::EarlyMedia {
                    call,
                    sdp: response.body.clone(),
                });
            }
        }
    }

    /// RFC 3261 §13.2.2.4: every 2xx is ACKed by us (retransmissions again,
    /// with the same ACK). The first 2xx of a live, uncancelled call
    /// confirms its dialog; any other (another fork's, or one crossing our
    /// CANCEL) gets ACK then BYE.
    pub(super) fn on_invite_2xx(&mut self, now: Instant, key: &TransactionKey, response: Response) {
        let tag = response
            .to_header()
            .ok()
            .and_then(|to| tag_of(to.value()))
            .unwrap_or_default();
        let Some(inv) = self.invites.get_mut(key) else {
            return;
        };
        if let Some((_, bytes)) = inv.acks.iter().find(|(t, _)| *t == tag) {
            // A retransmission: our ACK was lost.
            self.out.push_back(Datagram {
                peer: inv.peer,
                bytes: bytes.clone(),
            });
            return;
        }
        let mut dialog = dialog_of_2xx(inv, key, &response);
        let ack = build_in_dialog(&self.config, &dialog, Method::Ack);
        let bytes = message::to_bytes(&SipMessage::Request(ack));
        inv.acks.push((tag, bytes.clone()));
        let peer = inv.peer;
        self.out.push_back(Datagram { peer, bytes });
        let live = self.calling(key).map(|call| {
            let cancelling = self.calls[&call]
                .outbound
                .as_ref()
                .is_some_and(|o| o.cancelling);
            (call, cancelling)
        });
        match live {
            Some((call, false)) => {
                let c = self.calls.get_mut(&call).expect("calling() found it");
                c.remote_party = dialog.remote_party;
                c.remote_target = dialog.remote_target;
                c.route_set = dialog.route_set;
                c.state = CallState::Established;
                let early_answer = c.outbound.as_mut().and_then(|out| {
                    out.cancel_deadline = None;
                    out.early_answer.take()
                });
                // RFC 3262 §5: an offer answered in a reliable 1xx is not
                // answered again in the 2xx.
                let sdp = (!response.body.is_empty())
                    .then_some(response.body)
                    .or(early_answer);
                self.events.push_back(UaEvent::Answered { call, sdp });
            }
            crossed => {
                // A 2xx that crossed our CANCEL, or from a second fork (or
                // for a call already given up): end that session at once.
                dialog.local_cseq += 1;
                let bye = build_in_dialog(&self.config, &dialog, Method::Bye);
                if let Err(error) = self.tx.request(now, peer, bye) {
                    tracing::warn!(%error, "could not send BYE for an unwanted 2xx");
                }
                if let Some((call, true)) = crossed {
                    self.forget(call);
                    self.events.push_back(UaEvent::Failed { call, code: 487 });
                }
            }
        }
    }

    /// A 3xx–6xx to our INVITE (the transaction layer has ACKed it): answer
    /// one digest challenge, or fail the call.
    pub(super) fn on_invite_failure(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: &Response,
    ) {
        let code = response.status_code.code();
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let retry = match code {
            401 | 407 => c.outbound.as_mut().and_then(|out| {
                let digest = out.digest.as_mut()?;
                (!out.cancelling && !out.auth_tried && digest.on_challenge(response).is_ok()).then(
                    || {
                        out.auth_tried = true;
                        Retry::Authorize
                    },
                )
            }),
            300..=399 => c.outbound.as_mut().and_then(|out| {
                let usable = out.follow_redirects && !out.cancelling && out.redirects < 3;
                let target = redirect_target(response).filter(|_| usable)?;
                out.redirects += 1;
                Some(Retry::Redirect(target))
            }),
            503 => c.outbound.as_mut().and_then(|out| {
                if out.cancelling || out.alternates.is_empty() {
                    return None;
                }
                Some(Retry::Failover(out.alternates.remove(0)))
            }),
            _ => None,
        };
        if let Some(retry) = retry
            && self.reissue(now, call, retry)
        {
            return;
        }
        self.forget(call);
        self.events.push_back(UaEvent::Failed { call, code });
    }

    /// Timer B: no response at all (RFC 3261 §8.1.3.1: as a 408).
    pub(super) fn on_invite_timeout(&mut self, now: Instant, key: &TransactionKey) {
        let Some(call) = self.calling(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let cancelling = c.outbound.as_ref().is_some_and(|o| o.cancelling);
        let next = c
            .outbound
            .as_mut()
            .filter(|o| !o.cancelling && !o.alternates.is_empty())
            .map(|o| o.alternates.remove(0));
        if let Some(peer) = next
            && self.reissue(now, call, Retry::Failover(peer))
        {
            return;
        }
        self.forget(call);
        let code = if cancelling { 487 } else { 408 };
        self.events.push_back(UaEvent::Failed { call, code });
    }

    /// Send the call's INVITE again, changed as `retry` says: next CSeq, new
    /// branch, the same Call-ID and From tag (RFC 3261 §8.1.3.4, §22.2).
    /// Returns false (and the caller fails the call) when it cannot be sent.
    fn reissue(&mut self, now: Instant, call: CallRef, retry: Retry) -> bool {
        let local_addr = self.config.local_addr;
        let failover_wait = self.config.failover_wait;
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some(out) = c.outbound.as_mut() else {
            return false;
        };
        out.provisional = false;
        out.responded = false;
        out.last_rseq = None;
        out.early_answer = None;
        let mut request = c.invite.clone();
        match &retry {
            Retry::Authorize => {}
            Retry::Redirect(uri) => {
                tracing::info!(call_id = %c.call_id, target = %uri, "following a redirect");
                request.uri = uri.clone();
                c.remote_target = uri.to_string();
            }
            Retry::Failover(peer) => {
                tracing::info!(call_id = %c.call_id, from = %c.peer, to = %peer, "no answer from this next hop: trying the next one");
                c.peer = *peer;
            }
        }
        if !out.alternates.is_empty() {
            let at = now + failover_wait;
            out.failover_at = Some(at);
            self.timers.push(Reverse((at, call)));
        } else {
            out.failover_at = None;
        }
        c.local_cseq += 1;
        let cseq = c.local_cseq;
        for h in request.headers.iter_mut() {
            match h {
                Header::Via(via) => {
                    *via = rsip::headers::Via::new(format!(
                        "SIP/2.0/{} {};branch={};rport",
                        c.peer.transport.via_token(),
                        local_addr,
                        message::new_branch()
                    ));
                }
                Header::CSeq(h) => *h = rsip::headers::CSeq::new(format!("{cseq} INVITE")),
                _ => {}
            }
        }
        if matches!(retry, Retry::Authorize)
            && let Some(digest) = out.digest.as_mut()
        {
            digest.authorize(&mut request, &message::new_tag());
        }
        c.remote_party = strip_tag(&c.remote_party).to_owned();
        match self.tx.request(now, c.peer, request.clone()) {
            Ok(new_key) => {
                c.invite_key = new_key.clone();
                c.invite = request.clone();
                let inv = OutInvite {
                    call,
                    peer: c.peer,
                    call_id: c.call_id.clone(),
                    local_party: c.local_party.clone(),
                    local_tag: c.local_tag.clone(),
                    cseq,
                    invite: request,
                    target: c.remote_target.clone(),
                    acks: Vec::new(),
                };
                self.invites.insert(new_key, inv);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "could not send the INVITE again");
                false
            }
        }
    }

    /// The failover timer of an outbound call fired (`due` from the heap):
    /// with still no response from this next hop, try the next one.
    pub(super) fn failover_due(&mut self, now: Instant, call: CallRef, due: Instant) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(out) = c.outbound.as_mut() else {
            return;
        };
        let waiting = matches!(c.state, CallState::Calling)
            && out.failover_at == Some(due)
            && !out.responded
            && !out.cancelling
            && !out.alternates.is_empty();
        if !waiting {
            return;
        }
        let peer = out.alternates.remove(0);
        let old = c.invite_key.clone();
        if self.reissue(now, call, Retry::Failover(peer)) {
            self.tx.abandon(&old);
        }
    }

    /// PRACK a reliable provisional response (RFC 3262 §7.2), in the early
    /// dialog it creates (§12.1.2): its Contact, its Record-Route reversed.
    fn send_prack(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        call: CallRef,
        response: &Response,
    ) {
        let Some(inv) = self.invites.get(key) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let mut early = dialog_of_2xx(inv, key, response);
        c.local_cseq += 1;
        early.local_cseq = c.local_cseq;
        let rseq = rseq_of(response).unwrap_or_default();
        let mut prack = build_in_dialog(&self.config, &early, Method::PRack);
        prack.headers.push(Header::Other(
            "RAck".into(),
            format!("{rseq} {} INVITE", inv.cseq),
        ));
        if let Err(error) = self.tx.request(now, inv.peer, prack) {
            tracing::warn!(%error, "could not send PRACK");
        }
    }

    /// RFC 3261 §9.1: no final response 64*T1 after our CANCEL: consider the
    /// INVITE cancelled.
    pub(super) fn cancel_expired(&mut self, now: Instant, call: CallRef, due: Instant) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let expired = matches!(c.state, CallState::Calling)
            && c.outbound
                .as_ref()
                .and_then(|o| o.cancel_deadline)
                .is_some_and(|d| d == due && d <= now);
        if !expired {
            return;
        }
        let key = c.invite_key.clone();
        self.forget(call);
        self.tx.abandon(&key);
        self.events.push_back(UaEvent::Failed { call, code: 487 });
    }
}

/// The dialog a 2xx to our INVITE creates (RFC 3261 §12.1.2): the remote
/// target from its Contact, the route set from its Record-Route reversed,
/// the remote party (with tag) from its To. Not inserted anywhere: the
/// caller copies what it needs, or uses it to ACK and BYE an unwanted 2xx.
pub(super) fn dialog_of_2xx(inv: &OutInvite, key: &TransactionKey, response: &Response) -> Call {
    let remote_party = response
        .to_header()
        .map(|to| to.value().to_owned())
        .unwrap_or_default();
    let remote_target = response
        .contact_header()
        .ok()
        .and_then(|c| c.typed().ok())
        .map(|c| c.uri.to_string())
        .unwrap_or_else(|| inv.target.clone());
    let mut route_set = record_routes(&response.headers);
    route_set.reverse();
    Call {
        call_id: inv.call_id.clone(),
        local_tag: inv.local_tag.clone(),
        local_party: inv.local_party.clone(),
        remote_party,
        remote_target,
        route_set,
        local_cseq: inv.cseq,
        remote_cseq: 0,
        peer: inv.peer,
        state: CallState::Established,
        invite_key: key.clone(),
        invite: inv.invite.clone(),
        reinvite: None,
        unacked: None,
        bye_pending: false,
        outbound: None,
        session: None,
        no_ringing: false,
    }
}

/// How an outbound INVITE is sent again.
enum Retry {
    /// With the credentials for the challenge just received.
    Authorize,
    /// To the target a 3xx named.
    Redirect(rsip::Uri),
    /// To the next hop after one that did not answer (or said 503).
    Failover(Peer),
}

/// The first `sip:`/`sips:` Contact of a 3xx (RFC 3261 §8.1.3.4).
fn redirect_target(response: &Response) -> Option<rsip::Uri> {
    response.headers.iter().find_map(|h| match h {
        Header::Contact(contact) => {
            let uri = contact.typed().ok()?.uri;
            matches!(
                uri.scheme,
                Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips)
            )
            .then_some(uri)
        }
        _ => None,
    })
}

/// A provisional response sent reliably (RFC 3262 §7.1: `Require: 100rel`).
fn reliable(response: &Response) -> bool {
    super::extensions::lists(&response.headers, "Require", "100rel")
}

/// The `RSeq` of a reliable provisional response.
fn rseq_of(response: &Response) -> Option<u32> {
    super::extensions::header_values(&response.headers, "RSeq")
        .next()
        .and_then(|v| v.trim().parse().ok())
}

/// The host of a socket address as it goes in a URI (IPv6 in brackets).
pub(super) fn host_of(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    }
}

/// Our Contact in outbound INVITEs: `from_user` at our address.
pub(super) fn outbound_contact(config: &UaConfig, transport: Transport) -> String {
    super::wire::contact_uri(config, &config.from_user, transport)
}

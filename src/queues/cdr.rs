//! How the ACD's decisions read in the call record and on the screen.

use frontdoor_cti::protocol::{AgentState as CtiState, WithdrawReason};

use frontdoor_acd::{AgentState, CallRecord, CancelReason, ExternalReason};

pub(super) fn cti_state(state: &AgentState) -> (CtiState, Option<String>) {
    match state {
        AgentState::LoggedOut => (CtiState::LoggedOut, None),
        AgentState::NotReady { reason } => (CtiState::NotReady, Some(reason.clone())),
        AgentState::Ready => (CtiState::Ready, None),
        AgentState::Reserved { .. } => (CtiState::Reserved, None),
        AgentState::Busy { .. } => (CtiState::Busy, None),
        AgentState::WrapUp { .. } => (CtiState::WrapUp, None),
    }
}

pub(super) fn cancel_reason(reason: CancelReason) -> WithdrawReason {
    match reason {
        CancelReason::NoAnswer => WithdrawReason::NoAnswer,
        CancelReason::Declined => WithdrawReason::Declined,
        CancelReason::CallerAbandoned => WithdrawReason::CallerHungUp,
        CancelReason::NavigatorLoggedOut => WithdrawReason::LoggedOut,
        CancelReason::NavigatorNotReady => WithdrawReason::NotReady,
        CancelReason::CrisisTimeout => WithdrawReason::CrisisTimeout,
        CancelReason::CallbackRequested => WithdrawReason::Callback,
        CancelReason::CallbackDialTimeout => WithdrawReason::DialTimeout,
        CancelReason::Transferred => WithdrawReason::Transferred,
    }
}

fn external_reason(reason: ExternalReason) -> &'static str {
    match reason {
        ExternalReason::CrisisTimeout => "crisis_timeout",
        ExternalReason::NoCrisisNavigator => "no_crisis_navigator",
        ExternalReason::NoCentreAvailable => "no_centre_available",
    }
}

/// A CDR step's kind and detail.
pub(super) fn describe(what: &CallRecord) -> (&'static str, String) {
    match what {
        CallRecord::Queued {
            queue,
            priority,
            language,
            crisis,
        } => (
            "queued",
            format!(
                "queue={queue} priority={} language={} crisis={crisis}",
                priority.as_str(),
                language.as_str()
            ),
        ),
        CallRecord::Overflowed { to, waited } => (
            "overflowed",
            format!("to={to} waited_s={}", waited.as_secs()),
        ),
        CallRecord::Offered { navigator } => ("offered", format!("navigator={navigator}")),
        CallRecord::NoAnswer { navigator } => ("no_answer", format!("navigator={navigator}")),
        CallRecord::Declined { navigator, reason } => {
            ("declined", format!("navigator={navigator} reason={reason}"))
        }
        CallRecord::OfferCancelled { navigator, reason } => (
            "offer_cancelled",
            format!(
                "navigator={navigator} reason={}",
                cancel_reason(*reason).as_str()
            ),
        ),
        CallRecord::Answered {
            navigator,
            waited,
            callback,
        } => (
            "connected",
            format!(
                "navigator={navigator} waited_s={} callback={callback}",
                waited.as_secs()
            ),
        ),
        CallRecord::Abandoned {
            waited,
            while_ringing,
        } => (
            "abandoned",
            format!(
                "waited_s={} while_ringing={while_ringing}",
                waited.as_secs()
            ),
        ),
        CallRecord::Ended { navigator, talked } => (
            "talked",
            format!("navigator={navigator} talked_s={}", talked.as_secs()),
        ),
        CallRecord::Transferred { from, to } => (
            "transferred",
            format!(
                "from={} to={to}",
                from.as_ref().map_or("queue".to_owned(), |n| n.0.clone())
            ),
        ),
        CallRecord::CallbackRequested { waited } => (
            "callback_requested",
            format!("waited_s={}", waited.as_secs()),
        ),
        CallRecord::CallbackDialling { navigator, attempt } => (
            "callback_dialling",
            format!("navigator={navigator} attempt={attempt}"),
        ),
        CallRecord::CallbackFailed { attempt } => ("callback_failed", format!("attempt={attempt}")),
        CallRecord::CallbackToSupervisor { attempts } => {
            ("callback_to_supervisor", format!("attempts={attempts}"))
        }
        CallRecord::CallbackRequeued => ("callback_requeued", String::new()),
        CallRecord::CallbackRestored { to_supervisor } => (
            "callback_restored",
            format!("to_supervisor={to_supervisor}"),
        ),
        CallRecord::CallbackResolved => ("callback_resolved", String::new()),
        CallRecord::RoutedExternal {
            target,
            reason,
            waited,
        } => (
            "routed_external",
            format!(
                "target={target} reason={} waited_s={}",
                external_reason(*reason),
                waited.as_secs()
            ),
        ),
    }
}

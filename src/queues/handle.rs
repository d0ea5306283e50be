//! The queues' handle: what call and callback tasks send the queue task,
//! and what it tells them back.

use std::time::Duration;

use frontdoor_acd::{CallId, Lang, Priority, QueueId};
use frontdoor_cti::protocol::{MonitorMode, TransferState};

use crate::call::b2bua::{MonitorReport, Via};
use tokio::sync::mpsc;

/// What the queues tell a caller's call task.
#[derive(Debug)]
pub enum ToCall {
    /// Ring this navigator's phone (the first contact that works).
    Offer {
        navigator: String,
        contacts: Vec<(String, Via)>,
    },
    /// Stop ringing that navigator (or release their answered leg).
    CancelOffer { navigator: String },
    /// The navigator answered and has the call: bridge.
    Connect { navigator: String },
    /// The waiting caller's position and expected wait.
    Announce { position: usize, wait: Duration },
    /// Send the call to an external line (with a prompt); the call has left
    /// the queues. An empty target: nowhere to go, say so and end.
    RouteExternal { target: String, crisis: bool },
    /// The navigator's leg leaves (a transfer to a queue): back on hold.
    Release,
    /// The navigator hung up from their screen: end the call.
    Hangup,
    /// The navigator transferred the call to an external line.
    TransferExternal { uri: String },
    /// The navigator consults `uri` before transferring (warm transfer):
    /// the caller goes on hold, the navigator talks with the target.
    Consult { uri: String },
    /// The navigator puts the caller on hold (`true`) or takes them back.
    Hold(bool),
    /// Connect the caller to the consulted target; the navigator leaves.
    CompleteTransfer,
    /// End the consult call; the navigator is back with the caller.
    CancelTransfer,
    /// A supervisor joins the navigator's call on one of their phones
    /// (`contacts`), or changes how (`mode`); `None`: they leave it.
    Monitor {
        supervisor: String,
        contacts: Vec<(String, Via)>,
        mode: Option<MonitorMode>,
    },
}

/// A call entering the queues.
#[derive(Debug)]
pub struct NewQueued {
    /// The call's id in the call records (its Call-ID).
    pub cti_id: String,
    /// The caller's number (E.164), for callbacks.
    pub caller: Option<String>,
    pub queue: QueueId,
    pub priority: Priority,
    pub language: Lang,
    pub to_call: mpsc::UnboundedSender<ToCall>,
}

#[derive(Debug)]
pub(super) enum Msg {
    Queued(NewQueued),
    CallerGone {
        cti_id: String,
    },
    OfferAnswered {
        cti_id: String,
        navigator: String,
        device: String,
    },
    OfferFailed {
        cti_id: String,
        navigator: String,
        reason: String,
    },
    CallbackRequested {
        cti_id: String,
    },
    CrisisKey {
        cti_id: String,
    },
    Callback {
        call: CallId,
        event: CallbackEvent,
    },
    TransferProgress {
        cti_id: String,
        navigator: String,
        state: TransferState,
        detail: String,
    },
    TransferCompleted {
        cti_id: String,
        navigator: String,
        uri: String,
    },
    Held {
        cti_id: String,
        navigator: String,
        held: bool,
    },
    Monitor {
        cti_id: String,
        supervisor: String,
        report: MonitorReport,
    },
}

/// The call tasks' handle on the queues. Cheap to clone; sends never wait.
#[derive(Debug, Clone)]
pub struct Queues {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Queues {
    fn send(&self, msg: Msg) {
        if self.tx.send(msg).is_err() {
            tracing::error!("the queues have stopped");
        }
    }
    pub fn queue(&self, call: NewQueued) {
        self.send(Msg::Queued(call));
    }
    /// The caller hung up (waiting, ringing or bridged), or the call left.
    pub fn caller_gone(&self, cti_id: &str) {
        self.send(Msg::CallerGone {
            cti_id: cti_id.into(),
        });
    }
    /// The navigator's phone `device` (a SIP contact, or `browser`) answered.
    pub fn offer_answered(&self, cti_id: &str, navigator: &str, device: &str) {
        self.send(Msg::OfferAnswered {
            cti_id: cti_id.into(),
            navigator: navigator.into(),
            device: device.into(),
        });
    }
    pub fn offer_failed(&self, cti_id: &str, navigator: &str, reason: &str) {
        self.send(Msg::OfferFailed {
            cti_id: cti_id.into(),
            navigator: navigator.into(),
            reason: reason.into(),
        });
    }
    pub fn callback_requested(&self, cti_id: &str) {
        self.send(Msg::CallbackRequested {
            cti_id: cti_id.into(),
        });
    }
    pub fn crisis_key(&self, cti_id: &str) {
        self.send(Msg::CrisisKey {
            cti_id: cti_id.into(),
        });
    }
    /// How a consult transfer goes.
    pub fn transfer_progress(
        &self,
        cti_id: &str,
        navigator: &str,
        state: TransferState,
        detail: &str,
    ) {
        self.send(Msg::TransferProgress {
            cti_id: cti_id.into(),
            navigator: navigator.into(),
            state,
            detail: detail.into(),
        });
    }
    /// The caller is on hold (`true`) or back with the navigator.
    pub fn held(&self, cti_id: &str, navigator: &str, held: bool) {
        self.send(Msg::Held {
            cti_id: cti_id.into(),
            navigator: navigator.into(),
            held,
        });
    }
    /// The caller is now with the consulted target: the navigator is free.
    pub fn transfer_completed(&self, cti_id: &str, navigator: &str, uri: &str) {
        self.send(Msg::TransferCompleted {
            cti_id: cti_id.into(),
            navigator: navigator.into(),
            uri: uri.into(),
        });
    }
    /// How a supervisor's joining the call goes.
    pub fn monitor(&self, cti_id: &str, supervisor: &str, report: MonitorReport) {
        self.send(Msg::Monitor {
            cti_id: cti_id.into(),
            supervisor: supervisor.into(),
            report,
        });
    }
    pub(crate) fn callback_event(&self, call: CallId, event: CallbackEvent) {
        self.send(Msg::Callback { call, event });
    }
}

/// What the call tasks sent, for [`run`].
pub struct Inbox(pub(super) mpsc::UnboundedReceiver<Msg>);

/// The queues' handle and the inbox [`run`] reads.
pub fn channel() -> (Queues, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Queues { tx }, Inbox(rx))
}

/// What a callback task reports to the queues.
#[derive(Debug)]
pub enum CallbackEvent {
    /// The navigator's phone did not take the call (or hung up before the
    /// caller answered).
    NavigatorFailed { navigator: String, reason: String },
    /// The caller did not answer (or the trunk refused the call).
    CallerFailed,
    /// Caller and navigator are bridged.
    Connected,
    /// The bridged call ended.
    Ended,
}

/// What the queues tell a callback task.
#[derive(Debug)]
pub enum CallbackOrder {
    /// Stop: hang up both legs (dial timeout, the navigator's hang-up).
    Hangup,
}

/// A callback to place: the caller who asked to be called back has reached
/// the head of their queue and a navigator is reserved for them.
#[derive(Debug)]
pub struct Callback {
    pub call: CallId,
    pub cti_id: String,
    /// The caller's number (E.164).
    pub number: String,
    pub navigator: String,
    /// The navigator's phones, most recent first.
    pub contacts: Vec<(String, Via)>,
}

/// How the queues start a callback's task: the callback, and the orders
/// the task must follow. The task reports with [`Queues::callback_event`].
/// The queues know nothing of how legs are placed.
pub type StartCallback =
    Box<dyn Fn(Callback, mpsc::UnboundedReceiver<CallbackOrder>) + Send + Sync>;

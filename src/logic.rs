//! What a call does once it is answered, as a sans-IO state machine.
//!
//! The call controller (`call.rs`) owns the sockets and the media; a
//! [`CallLogic`] owns the decisions: which prompts to play, what a key means,
//! when to give up. It gets inputs with the current time and answers with
//! [`Action`]s; its next deadline is [`CallLogic::poll_timeout`]. The IVR flow
//! interpreter plugs in here; until flows exist, [`Welcome`] is the logic of
//! every call: the bilingual welcome, each key logged, and the call ended
//! after a key or after a silence.

use std::time::{Duration, Instant};

/// A prompt by language and id: `prompts/<lang>/<id>.wav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    pub lang: &'static str,
    pub id: String,
}

/// What happened on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The caller pressed a key (RFC 4733, SIP INFO or in-band).
    Key(char),
    /// Everything asked to play has played to the end.
    PromptsFinished,
    /// The deadline from [`CallLogic::poll_timeout`] has passed.
    Timeout,
}

/// What the logic wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play these prompts in order, replacing whatever plays now.
    Play(Vec<PromptRef>),
    /// Stop playing at once (barge-in).
    StopPlaying,
    /// End the call.
    Hangup,
}

/// The decisions of one answered call.
pub trait CallLogic: Send {
    /// The call is answered and media flows.
    fn start(&mut self, now: Instant) -> Vec<Action>;
    /// Something happened.
    fn handle(&mut self, now: Instant, input: Input) -> Vec<Action>;
    /// When to feed [`Input::Timeout`], if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// The interim logic of every call until the IVR flows land: play the
/// welcome in English then French; log each key (the call's span carries
/// its Call-ID); a key stops the prompt and the call ends shortly after the
/// last key; with no key at all, the call ends `no_input` after the welcome.
#[derive(Debug)]
pub struct Welcome {
    no_input: Duration,
    /// After a key, how long to wait for more keys before hanging up.
    after_key: Duration,
    deadline: Option<Instant>,
    keys: String,
    done: bool,
}

impl Welcome {
    pub fn new(no_input: Duration) -> Self {
        Welcome {
            no_input,
            after_key: Duration::from_secs(2),
            deadline: None,
            keys: String::new(),
            done: false,
        }
    }
}

impl CallLogic for Welcome {
    fn start(&mut self, _now: Instant) -> Vec<Action> {
        let prompt = |lang| PromptRef {
            lang,
            id: "welcome".to_owned(),
        };
        vec![Action::Play(vec![prompt("en"), prompt("fr")])]
    }

    fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        if self.done {
            return Vec::new();
        }
        match input {
            Input::Key(key) => {
                self.keys.push(key);
                tracing::info!(digit = %key, keys = %self.keys, "key pressed");
                self.deadline = Some(now + self.after_key);
                vec![Action::StopPlaying]
            }
            Input::PromptsFinished => {
                if self.keys.is_empty() {
                    self.deadline = Some(now + self.no_input);
                }
                Vec::new()
            }
            Input::Timeout => match self.deadline {
                Some(deadline) if now >= deadline => {
                    if self.keys.is_empty() {
                        tracing::info!(
                            waited_s = self.no_input.as_secs(),
                            "no key pressed: hanging up"
                        );
                    }
                    self.done = true;
                    self.deadline = None;
                    vec![Action::Hangup]
                }
                _ => Vec::new(),
            },
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn welcome_plays_english_then_french() {
        let mut w = Welcome::new(secs(30));
        let actions = w.start(Instant::now());
        let Action::Play(prompts) = &actions[0] else {
            panic!("{actions:?}")
        };
        let langs: Vec<_> = prompts.iter().map(|p| (p.lang, p.id.as_str())).collect();
        assert_eq!(langs, [("en", "welcome"), ("fr", "welcome")]);
        assert_eq!(
            w.poll_timeout(),
            None,
            "no deadline while the welcome plays"
        );
    }

    #[test]
    fn silent_caller_is_hung_up_on_after_the_no_input_time() {
        let t0 = Instant::now();
        let mut w = Welcome::new(secs(30));
        w.start(t0);
        assert!(w.handle(t0 + secs(12), Input::PromptsFinished).is_empty());
        assert_eq!(w.poll_timeout(), Some(t0 + secs(42)));
        assert!(
            w.handle(t0 + secs(41), Input::Timeout).is_empty(),
            "early wake-ups do nothing"
        );
        assert_eq!(w.handle(t0 + secs(42), Input::Timeout), [Action::Hangup]);
        assert_eq!(w.poll_timeout(), None);
        assert!(
            w.handle(t0 + secs(43), Input::Timeout).is_empty(),
            "hangs up once"
        );
    }

    #[test]
    fn a_key_barges_in_and_ends_the_call_shortly_after_the_last_key() {
        let t0 = Instant::now();
        let mut w = Welcome::new(secs(30));
        w.start(t0);
        assert_eq!(
            w.handle(t0 + secs(1), Input::Key('1')),
            [Action::StopPlaying]
        );
        assert_eq!(
            w.handle(t0 + secs(2), Input::Key('9')),
            [Action::StopPlaying]
        );
        assert_eq!(w.keys, "19");
        assert_eq!(w.poll_timeout(), Some(t0 + secs(4)));
        // The prompt stopped by barge-in does not restart the no-input wait.
        assert!(w.handle(t0 + secs(2), Input::PromptsFinished).is_empty());
        assert_eq!(w.poll_timeout(), Some(t0 + secs(4)));
        assert_eq!(w.handle(t0 + secs(4), Input::Timeout), [Action::Hangup]);
    }
}

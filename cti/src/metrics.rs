//! `GET /metrics`: the engine's counters and gauges ([`Status`]), the
//! queues' figures from the supervisors' view ([`QueuesView`]) and the
//! latency histograms, in the Prometheus text format (version 0.0.4),
//! encoded by `prometheus-client`.
//!
//! Each scrape builds a registry from the values as they are (counters kept
//! by [`Status`], the last view the queues published), so a queue or a
//! trunk that went away stops being reported; the histograms live in
//! [`Status`] and are shared into every scrape.

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::protocol::{AgentState, QueuesView, WaitingState};
use crate::status::Status;

/// The content type of what [`render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels = Vec<(&'static str, String)>;

/// Buckets of the latency histograms, seconds: 0.5 ms to 5 s.
pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
    ])
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

/// A family of metrics, one per label set, each given its value by `set`.
fn family<M: Default, V>(
    samples: impl IntoIterator<Item = (Labels, V)>,
    set: impl Fn(&M, V),
) -> Family<Labels, M> {
    let family = Family::<Labels, M>::default();
    for (labels, value) in samples {
        set(&family.get_or_create(&labels), value);
    }
    family
}

fn counters(samples: impl IntoIterator<Item = (Labels, u64)>) -> Family<Labels, Counter> {
    family(samples, |c: &Counter, n| {
        c.inc_by(n);
    })
}

fn gauges(samples: impl IntoIterator<Item = (Labels, i64)>) -> Family<Labels, Gauge> {
    family(samples, |g: &Gauge, n| {
        g.set(n);
    })
}

fn gauges_f64(
    samples: impl IntoIterator<Item = (Labels, f64)>,
) -> Family<Labels, Gauge<f64, AtomicU64>> {
    family(samples, |g: &Gauge<f64, AtomicU64>, n| {
        g.set(n);
    })
}

/// Everything `/metrics` says, as text.
pub fn render(status: &Status, view: Option<&QueuesView>) -> String {
    let mut r = Registry::default();
    let s = status.snapshot();
    r.register(
        "frontdoor_calls_in_progress",
        "Calls the call controller holds now",
        gauge(s.calls_in_progress),
    );
    r.register(
        "frontdoor_calls",
        "Calls ended, by disposition",
        counters(
            s.dispositions
                .into_iter()
                .map(|(d, n)| (vec![("disposition", d.to_owned())], n)),
        ),
    );
    r.register(
        "frontdoor_sip_responses",
        "SIP responses sent, by status code",
        counters(
            s.sip_responses
                .into_iter()
                .map(|(c, n)| (vec![("code", c.to_string())], n)),
        ),
    );
    r.register(
        "frontdoor_sip_shed",
        "SIP requests shed by the per-source limits or the call limit, by reason",
        counters(
            s.shed
                .into_iter()
                .map(|(why, n)| (vec![("reason", why)], n)),
        ),
    );
    r.register(
        "frontdoor_http_unauthenticated",
        "HTTP requests refused with 401 that name no account (no token, a token never issued)",
        counters(
            s.unauthenticated
                .into_iter()
                .map(|(why, n)| (vec![("reason", why.to_owned())], n)),
        ),
    );
    r.register(
        "frontdoor_websocket_clients",
        "Open CTI websocket connections",
        gauge(s.ws_clients),
    );
    r.register(
        "frontdoor_store_errors",
        "Database operations that failed",
        counter(s.store_errors),
    );
    r.register(
        "frontdoor_spool_backlog",
        "Call record writes in the spool that the database does not have yet",
        gauge(i64::try_from(s.spool_backlog).unwrap_or(i64::MAX)),
    );
    r.register(
        "frontdoor_trunk_up",
        "1 when calls may go out through this trunk of the carrier (it answers keep-alives, and is registered if it must be)",
        gauges(
            s.trunks
                .iter()
                .map(|t| (vec![("trunk", t.name.clone())], i64::from(t.up))),
        ),
    );
    r.register(
        "frontdoor_trunk_registered",
        "1 while our registration to this trunk of the carrier holds",
        gauges(
            s.trunks
                .iter()
                .filter(|t| t.registration.is_some())
                .map(|t| {
                    (
                        vec![("trunk", t.name.clone())],
                        i64::from(t.registration == Some("registered")),
                    )
                }),
        ),
    );
    r.register(
        "frontdoor_login_failures",
        "Refused logins",
        counter(s.login_failures),
    );
    r.register(
        "frontdoor_call_events",
        "Call events received from the call controller",
        counter(s.call_events),
    );
    r.register(
        "frontdoor_setup_seconds",
        "From a call's INVITE taken by a call task to its 200 handed to SIP, answer delay included",
        status.setup_histogram().clone(),
    );
    r.register(
        "frontdoor_pop_seconds",
        "From the queues' decision to offer a call to its screen pop sent to the navigator (millisecond resolution)",
        status.pop_histogram().clone(),
    );
    if let Some(view) = view {
        queue_metrics(&mut r, view);
    }
    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = prometheus_text::encode(&mut out, &r);
    out
}

/// The queues' figures: what waits now, today's counts and service level,
/// and the navigators by state.
fn queue_metrics(r: &mut Registry, view: &QueuesView) {
    let line = |queue: &str, language: &str| -> Labels {
        vec![
            ("queue", queue.to_owned()),
            ("language", language.to_owned()),
        ]
    };
    let mut waiting: Vec<(Labels, i64)> = Vec::new();
    let mut callbacks: Vec<(Labels, i64)> = Vec::new();
    let mut longest: Vec<(Labels, i64)> = Vec::new();
    for q in &view.queues {
        for language in ["en", "fr"] {
            let calls = || q.waiting.iter().filter(|c| c.language == language);
            waiting.push((
                line(&q.queue, language),
                calls()
                    .filter(|c| !c.callback && c.state != WaitingState::Dialling)
                    .count() as i64,
            ));
            callbacks.push((
                line(&q.queue, language),
                calls().filter(|c| c.callback).count() as i64,
            ));
        }
        let wait = q
            .waiting
            .iter()
            .filter(|c| !c.callback)
            .map(|c| c.waited_s)
            .max()
            .unwrap_or(0);
        longest.push((
            vec![("queue", q.queue.clone())],
            i64::try_from(wait).unwrap_or(i64::MAX),
        ));
    }
    r.register(
        "frontdoor_queue_waiting",
        "Callers on the line waiting or ringing for a navigator, by queue and language",
        gauges(waiting),
    );
    r.register(
        "frontdoor_queue_callbacks_waiting",
        "Callbacks waiting for their turn or being dialled, by queue and language",
        gauges(callbacks),
    );
    r.register(
        "frontdoor_queue_longest_wait_seconds",
        "The longest wait of a caller on the line now, by queue",
        gauges(longest),
    );
    type Count = fn(&crate::protocol::QueueDay) -> u64;
    let counts: [(&str, &str, Count); 8] = [
        ("offered", "Calls that entered the queue today", |d| {
            d.offered
        }),
        ("answered", "Callers a navigator answered today", |d| {
            d.answered
        }),
        (
            "answered_in_target",
            "Callers answered within the queue's service-level target today",
            |d| d.answered_in_target,
        ),
        (
            "abandoned",
            "Callers who hung up waiting after the short-abandon time today",
            |d| d.abandoned,
        ),
        (
            "short_abandoned",
            "Callers who hung up sooner than the short-abandon time today",
            |d| d.short_abandoned,
        ),
        (
            "routed_external",
            "Calls sent to the crisis line or a fallback line today",
            |d| d.routed_external,
        ),
        (
            "callbacks_requested",
            "Callers who asked to be called back today",
            |d| d.callbacks_requested,
        ),
        ("handled", "Calls a navigator finished today", |d| d.handled),
    ];
    for (name, help, get) in counts {
        r.register(
            format!("frontdoor_queue_{name}_today"),
            format!("{help}, by queue and language (zero at midnight)"),
            gauges(view.today.iter().map(|d| {
                (
                    line(&d.queue, &d.language),
                    i64::try_from(get(d)).unwrap_or(i64::MAX),
                )
            })),
        );
    }
    r.register(
        "frontdoor_queue_service_level_ratio",
        "Today's service level: answered within the target over answered and abandoned, by queue and language",
        gauges_f64(view.today.iter().filter_map(|d| {
            // From the counts: the view's percentage is rounded.
            let base = d.answered + d.abandoned;
            (base > 0).then(|| {
                (
                    line(&d.queue, &d.language),
                    d.answered_in_target as f64 / base as f64,
                )
            })
        })),
    );
    // The targets of the queues with a call today.
    let mut targets: Vec<(Labels, f64, u64)> = Vec::new();
    for d in &view.today {
        let labels = vec![("queue", d.queue.clone())];
        if !targets.iter().any(|(l, _, _)| *l == labels) {
            targets.push((labels, d.target_percent / 100.0, d.target_within_s));
        }
    }
    r.register(
        "frontdoor_queue_service_level_target_ratio",
        "The share of callers the queue's target asks to answer within its time, by queue",
        gauges_f64(targets.iter().map(|(l, ratio, _)| (l.clone(), *ratio))),
    );
    r.register(
        "frontdoor_queue_service_level_target_seconds",
        "The answer time of the queue's service-level target, by queue",
        gauges(
            targets
                .iter()
                .map(|(l, _, s)| (l.clone(), i64::try_from(*s).unwrap_or(i64::MAX))),
        ),
    );
    r.register(
        "frontdoor_queue_average_speed_of_answer_seconds",
        "Today's average wait of the answered callers, by queue and language",
        gauges_f64(view.today.iter().filter_map(|d| {
            d.average_speed_of_answer_s
                .map(|s| (line(&d.queue, &d.language), s))
        })),
    );
    r.register(
        "frontdoor_queue_average_handle_seconds",
        "Today's average talk and wrap-up of the handled calls, by queue and language",
        gauges_f64(
            view.today
                .iter()
                .filter_map(|d| d.average_handle_s.map(|s| (line(&d.queue, &d.language), s))),
        ),
    );
    let mut states: Vec<(Labels, i64)> = Vec::new();
    for n in &view.navigators {
        let labels = vec![
            ("centre", n.centre.clone()),
            ("state", agent_state(n.state).to_owned()),
        ];
        match states.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, count)) => *count += 1,
            None => states.push((labels, 1)),
        }
    }
    r.register(
        "frontdoor_navigators",
        "Navigators the queues know, by centre and agent state",
        gauges(states),
    );
}

fn agent_state(state: AgentState) -> &'static str {
    match state {
        AgentState::LoggedOut => "logged_out",
        AgentState::NotReady => "not_ready",
        AgentState::Ready => "ready",
        AgentState::Reserved => "reserved",
        AgentState::Busy => "busy",
        AgentState::WrapUp => "wrap_up",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{QueueDay, QueueLine, QueueNavigator, WaitingCall};

    fn waiting(id: &str, language: &str, callback: bool, waited_s: u64) -> WaitingCall {
        WaitingCall {
            call_id: id.into(),
            caller: None,
            language: language.into(),
            priority: "normal".into(),
            crisis: false,
            callback,
            state: WaitingState::Waiting,
            waited_s,
        }
    }

    fn navigator(name: &str, state: AgentState) -> QueueNavigator {
        QueueNavigator {
            username: name.into(),
            centre: "ottawa".into(),
            languages: vec!["en".into()],
            crisis_trained: false,
            state,
            reason: None,
            since_ms: None,
            call_id: None,
            monitor: None,
        }
    }

    #[test]
    fn the_queues_figures_and_the_engines_counters_read_as_prometheus_text() {
        let status = Status::default();
        status.count_sip_response(200);
        status.observe_setup(std::time::Duration::from_micros(700));
        let view = QueuesView {
            queues: vec![QueueLine {
                queue: "centre:ottawa".into(),
                waiting: vec![
                    waiting("a", "en", false, 42),
                    waiting("b", "en", false, 7),
                    waiting("c", "fr", true, 300),
                ],
                target_percent: 80.0,
                target_within_s: 60,
            }],
            today: vec![QueueDay {
                queue: "centre:ottawa".into(),
                language: "en".into(),
                offered: 4,
                answered: 2,
                answered_in_target: 1,
                abandoned: 1,
                short_abandoned: 1,
                routed_external: 0,
                callbacks_requested: 0,
                callbacks_answered: 0,
                callbacks_failed: 0,
                transferred_out: 0,
                handled: 1,
                service_level_percent: Some(33.3),
                target_percent: 80.0,
                target_within_s: 60,
                average_speed_of_answer_s: Some(63.5),
                average_handle_s: Some(120.0),
            }],
            navigators: vec![
                navigator("n1", AgentState::Ready),
                navigator("n2", AgentState::Ready),
                navigator("n3", AgentState::WrapUp),
            ],
            ..QueuesView::default()
        };
        let text = render(&status, Some(&view));
        for line in [
            "# TYPE frontdoor_sip_responses_total counter",
            "frontdoor_sip_responses_total{code=\"200\"} 1",
            "frontdoor_calls_total{disposition=\"abandoned_in_queue\"} 0",
            "frontdoor_queue_waiting{queue=\"centre:ottawa\",language=\"en\"} 2",
            "frontdoor_queue_waiting{queue=\"centre:ottawa\",language=\"fr\"} 0",
            "frontdoor_queue_callbacks_waiting{queue=\"centre:ottawa\",language=\"fr\"} 1",
            "frontdoor_queue_longest_wait_seconds{queue=\"centre:ottawa\"} 42",
            "frontdoor_queue_offered_today{queue=\"centre:ottawa\",language=\"en\"} 4",
            "frontdoor_queue_short_abandoned_today{queue=\"centre:ottawa\",language=\"en\"} 1",
            "frontdoor_queue_service_level_target_ratio{queue=\"centre:ottawa\"} 0.8",
            "frontdoor_queue_service_level_target_seconds{queue=\"centre:ottawa\"} 60",
            "frontdoor_queue_average_speed_of_answer_seconds{queue=\"centre:ottawa\",language=\"en\"} 63.5",
            "frontdoor_navigators{centre=\"ottawa\",state=\"ready\"} 2",
            "frontdoor_navigators{centre=\"ottawa\",state=\"wrap_up\"} 1",
            "# TYPE frontdoor_setup_seconds histogram",
            "frontdoor_setup_seconds_bucket{le=\"0.001\"} 1",
            "frontdoor_setup_seconds_bucket{le=\"0.0005\"} 0",
            "frontdoor_setup_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line:?} in:\n{text}"
            );
        }
        let ratio: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(
                    "frontdoor_queue_service_level_ratio{queue=\"centre:ottawa\",language=\"en\"} ",
                )
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no service level in:\n{text}"));
        assert!((ratio - 1.0 / 3.0).abs() < 1e-9, "{ratio}");
        // Without a view (the queues not running), no queue metrics.
        let text = render(&status, None);
        assert!(!text.contains("frontdoor_queue_"), "{text}");
        assert!(text.contains("frontdoor_pop_seconds_count 0"), "{text}");
    }

    #[test]
    fn a_label_value_with_quotes_or_a_newline_is_escaped() {
        let status = Status::default();
        status.set_trunks(vec![crate::status::TrunkHealth {
            name: "a\"b\nc".into(),
            up: true,
            reachable: None,
            registration: None,
            registration_code: None,
        }]);
        let text = render(&status, None);
        assert!(
            text.contains(r#"frontdoor_trunk_up{trunk="a\"b\nc"} 1"#),
            "{text}"
        );
    }
}

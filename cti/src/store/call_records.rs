//! Call records and the append-only call events: every step of a call is one
//! event, and most also change the call's record.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::calls::CallAttribute;
use crate::error::Result;
use crate::protocol::{Caller, Disposition, RegionSource};

/// A call record (CDR) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub call_id: String,
    /// Stored as the number or `"anonymous"`; older records' `"withheld"`
    /// (or nothing) reads as [`Caller::Withheld`].
    pub caller: Caller,
    pub dialled: String,
    pub arrived_ms: i64,
    pub ivr_answered_ms: Option<i64>,
    pub queued_ms: Option<i64>,
    pub offered_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub language: Option<String>,
    pub region: Option<String>,
    pub region_source: Option<RegionSource>,
    pub centre: Option<String>,
    pub topic: Option<String>,
    pub crisis: bool,
    pub route: Option<String>,
    pub ivr_path: Vec<String>,
    pub navigator: Option<String>,
    pub callback: bool,
    pub disposition: Option<Disposition>,
    pub last_step: String,
    /// The SIP Call-ID the call came with (the caller chose it): to find
    /// a call from a SIP trace. `None` for calls the engine placed.
    pub sip_call_id: Option<String>,
    /// Where the carrier says the call was diverted from (`Diversion`,
    /// `History-Info`), when it said.
    pub diverted_from: Option<String>,
    /// The emergency incident the call arrived during, when there was one.
    pub incident: Option<String>,
    /// The flow version the call ran on (`frontdoor flow versions`).
    pub flow_version: Option<String>,
}

/// A call that went to a queue, as the wallboard's figures need it after
/// a restart ([`Store::queued_calls_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedCall {
    pub crisis: bool,
    pub centre: Option<String>,
    pub language: Option<String>,
    pub queued_ms: i64,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// The first log saved for it.
    pub logged_ms: Option<i64>,
    /// The caller hung up waiting.
    pub abandoned: bool,
    pub callback: bool,
    /// `made` or `failed`, once tried.
    pub callback_outcome: Option<String>,
}

/// One row of the append-only call event table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEventRecord {
    pub at_ms: i64,
    pub kind: String,
    pub detail: String,
}

/// A step of a call as the store writes it: one event appended to the call's
/// events and, for most steps, columns of the call record set with it, in
/// one savepoint. [`Store::record_step`] writes every kind; what each sets is
/// in [`CallStep::plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum CallStep {
    /// The IVR answered: `ivr_answered_ms`.
    IvrAnswered,
    /// The caller reached an IVR step: it becomes the last known step and
    /// the IVR path (kept whole by the event task) is rewritten.
    IvrStep { step: String, ivr_path: Vec<String> },
    /// The IVR learnt a fact about the call (language, region, …).
    Attribute { attribute: CallAttribute },
    /// The caller asked to be called back.
    Callback,
    /// The flow routed the call: `queued_ms`, the route, and the centre of
    /// a queue route (a route with no centre keeps the one known).
    Routed {
        route: String,
        centre: Option<String>,
    },
    /// The ACD offered the call to a navigator.
    Offered { navigator: String },
    /// The navigator answered: `answered_ms`.
    Answered,
    /// A step of the call in the queues (queued, overflowed, no_answer, …):
    /// it becomes the call's last known step.
    QueueStep { kind: String, detail: String },
    /// An event that changes no column (an offer taken back, a consult
    /// transfer's progress, a navigator's hangup).
    Note { kind: String, detail: String },
    /// The call ended.
    Ended { disposition: Disposition },
}

/// A value a step sets in a column of the call record.
enum Value {
    Text(String),
    Int(i64),
}

/// What one [`CallStep`] writes: the event and the columns it sets.
struct Plan<'a> {
    kind: &'a str,
    detail: Cow<'a, str>,
    /// (column, value); the column names are fixed text of this file.
    sets: Vec<(&'static str, Value)>,
}

impl CallStep {
    fn plan(&self, at_ms: i64) -> Plan<'_> {
        use Value::{Int, Text};
        let text = |s: &str| Text(s.to_string());
        let (kind, detail, sets): (&str, Cow<str>, _) = match self {
            CallStep::IvrAnswered => (
                "ivr_answered",
                "".into(),
                vec![
                    ("ivr_answered_ms", Int(at_ms)),
                    ("last_step", text("ivr_answered")),
                ],
            ),
            CallStep::IvrStep { step, ivr_path } => {
                let path = serde_json::to_string(ivr_path).unwrap_or_else(|_| "[]".into());
                (
                    "ivr_step",
                    step.into(),
                    vec![("last_step", text(step)), ("ivr_path", Text(path))],
                )
            }
            CallStep::Attribute { attribute } => {
                let (column, value, shown) = match attribute {
                    CallAttribute::Language(l) => ("language", text(l), l.clone()),
                    CallAttribute::Centre(c) => ("centre", text(c), c.clone()),
                    CallAttribute::Topic(t) => ("topic", text(t), t.clone()),
                    CallAttribute::Crisis(c) => {
                        ("crisis", Int(i64::from(*c)), i64::from(*c).to_string())
                    }
                    CallAttribute::SipCallId(id) => ("sip_call_id", text(id), id.clone()),
                    CallAttribute::DivertedFrom(n) => ("diverted_from", text(n), n.clone()),
                    CallAttribute::Incident(t) => ("incident", text(t), t.clone()),
                    CallAttribute::FlowVersion(v) => ("flow_version", text(v), v.clone()),
                    CallAttribute::Region { region, source } => {
                        return Plan {
                            kind: "attribute",
                            detail: format!("region={region} ({})", source.as_str()).into(),
                            sets: vec![
                                ("region", text(region)),
                                ("region_source", text(source.as_str())),
                            ],
                        };
                    }
                };
                (
                    "attribute",
                    format!("{column}={shown}").into(),
                    vec![(column, value)],
                )
            }
            CallStep::Callback => ("attribute", "callback=1".into(), vec![("callback", Int(1))]),
            CallStep::Routed { route, centre } => {
                let mut sets = vec![
                    ("queued_ms", Int(at_ms)),
                    ("route", text(route)),
                    ("last_step", text("routed")),
                ];
                if let Some(centre) = centre {
                    sets.push(("centre", text(centre)));
                }
                ("routed", route.into(), sets)
            }
            CallStep::Offered { navigator } => (
                "offered",
                navigator.into(),
                vec![
                    ("offered_ms", Int(at_ms)),
                    ("navigator", text(navigator)),
                    ("last_step", text("offered")),
                ],
            ),
            CallStep::Answered => (
                "answered",
                "".into(),
                vec![("answered_ms", Int(at_ms)), ("last_step", text("answered"))],
            ),
            CallStep::QueueStep { kind, detail } => {
                let mut sets = vec![("last_step", text(kind))];
                // What the reports count, kept on the record.
                match kind.as_str() {
                    "overflowed" => sets.push(("overflowed", Int(1))),
                    "callback_requested" => sets.push(("callback", Int(1))),
                    "callback_failed" | "callback_to_supervisor" => {
                        sets.push(("callback_outcome", text("failed")));
                    }
                    "connected" if detail.contains("callback=true") => {
                        sets.push(("callback_outcome", text("made")));
                    }
                    _ => {}
                }
                (kind, detail.into(), sets)
            }
            CallStep::Note { kind, detail } => (kind, detail.into(), Vec::new()),
            // An interrupted call keeps its last step: where the caller was
            // when it was cut off.
            CallStep::Ended {
                disposition: Disposition::Interrupted,
            } => (
                "ended",
                Disposition::Interrupted.as_str().into(),
                vec![
                    ("ended_ms", Int(at_ms)),
                    ("disposition", text(Disposition::Interrupted.as_str())),
                ],
            ),
            CallStep::Ended { disposition } => (
                "ended",
                disposition.as_str().into(),
                vec![
                    ("ended_ms", Int(at_ms)),
                    ("disposition", text(disposition.as_str())),
                    ("last_step", text("ended")),
                ],
            ),
        };
        Plan { kind, detail, sets }
    }
}

/// One write of the call-event task, as the spool keeps it until the store
/// has it: a call's arrival, one of its steps, or an audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Write {
    Arrived {
        call_id: String,
        caller: Caller,
        dialled: String,
        at_ms: i64,
    },
    Step {
        call_id: String,
        at_ms: i64,
        step: CallStep,
    },
    Audit {
        entry: super::AuditEntry,
    },
}

impl Store {
    pub(super) async fn event(
        &self,
        tx: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO call_events (call_id, at_ms, kind, detail) VALUES ($1, $2, $3, $4)",
        )
        .bind(call_id)
        .bind(at_ms)
        .bind(kind)
        .bind(detail)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// A call arrived: its record and its first event, in one transaction.
    pub(crate) async fn call_arrived(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        caller: &Caller,
        dialled: &str,
        at_ms: i64,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query(
            "INSERT INTO call_records (call_id, caller, dialled, arrived_ms, last_step) \
             VALUES ($1, $2, $3, $4, 'arrived')",
        )
        .bind(call_id)
        .bind(caller.as_str())
        .bind(dialled)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        self.event(
            &mut tx,
            call_id,
            at_ms,
            "arrived",
            &format!("{caller} -> {dialled}"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes one step of a call (see [`CallStep`]) on the event task's
    /// connection, in its own savepoint: the columns it sets and its event
    /// stand or fall together.
    pub(crate) async fn record_step(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        step: &CallStep,
    ) -> Result<()> {
        let Plan { kind, detail, sets } = step.plan(at_ms);
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        if !sets.is_empty() {
            let assignments: Vec<String> = sets
                .iter()
                .enumerate()
                .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
                .collect();
            let sql = format!(
                "UPDATE call_records SET {} WHERE call_id = ${}",
                assignments.join(", "),
                sets.len() + 1
            );
            // Safe: the column names are fixed text of `CallStep::plan`;
            // every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (_, value) in sets {
                query = match value {
                    Value::Text(t) => query.bind(t),
                    Value::Int(n) => query.bind(n),
                };
            }
            query.bind(call_id).execute(&mut *tx).await?;
        }
        // The copies the reports read on the call's logs and needs follow a
        // change of region (a navigator's correction), centre or incident.
        let copied = match step {
            CallStep::Attribute { attribute } => match attribute {
                CallAttribute::Region { region, .. } => Some(("region", region)),
                CallAttribute::Centre(c) => Some(("centre", c)),
                CallAttribute::Incident(t) => Some(("incident", t)),
                _ => None,
            },
            CallStep::Routed {
                centre: Some(c), ..
            } => Some(("centre", c)),
            _ => None,
        };
        if let Some((column, value)) = copied {
            for sql in [
                format!("UPDATE call_logs SET {column} = $1 WHERE call_id = $2"),
                format!(
                    "UPDATE call_log_needs SET {column} = $1 WHERE log_id IN \
                     (SELECT id FROM call_logs WHERE call_id = $2)"
                ),
            ] {
                // Safe: the column names are fixed text above.
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(value)
                    .bind(call_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        self.event(&mut tx, call_id, at_ms, kind, &detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends an event that changes no column (a navigator's hangup, a
    /// transfer) on a connection of its own.
    pub(crate) async fn call_note(
        &self,
        call_id: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let note = CallStep::Note {
            kind: kind.to_owned(),
            detail: detail.to_owned(),
        };
        self.record_step(&mut conn, call_id, at_ms, &note).await
    }

    fn call_from_row(row: &AnyRow) -> Result<CallRecord> {
        let path: String = row.try_get("ivr_path")?;
        let source: Option<String> = row.try_get("region_source")?;
        let disposition: Option<String> = row.try_get("disposition")?;
        Ok(CallRecord {
            call_id: row.try_get("call_id")?,
            caller: Caller::parse(&row.try_get::<String, _>("caller")?),
            dialled: row.try_get("dialled")?,
            arrived_ms: row.try_get("arrived_ms")?,
            ivr_answered_ms: row.try_get("ivr_answered_ms")?,
            queued_ms: row.try_get("queued_ms")?,
            offered_ms: row.try_get("offered_ms")?,
            answered_ms: row.try_get("answered_ms")?,
            ended_ms: row.try_get("ended_ms")?,
            language: row.try_get("language")?,
            region: row.try_get("region")?,
            region_source: source.as_deref().and_then(RegionSource::parse),
            centre: row.try_get("centre")?,
            topic: row.try_get("topic")?,
            crisis: row.try_get::<i64, _>("crisis")? != 0,
            route: row.try_get("route")?,
            ivr_path: serde_json::from_str(&path).unwrap_or_default(),
            navigator: row.try_get("navigator")?,
            callback: row.try_get::<i64, _>("callback")? != 0,
            disposition: disposition.as_deref().and_then(Disposition::parse),
            sip_call_id: row.try_get("sip_call_id")?,
            diverted_from: row.try_get("diverted_from")?,
            incident: row.try_get("incident")?,
            flow_version: row.try_get("flow_version")?,
            last_step: row.try_get("last_step")?,
        })
    }

    const CALL_COLUMNS: &'static str = "call_id, caller, dialled, arrived_ms, ivr_answered_ms, queued_ms, \
        offered_ms, answered_ms, ended_ms, language, region, region_source, centre, topic, crisis, route, \
        ivr_path, navigator, callback, disposition, last_step, sip_call_id, diverted_from, incident, \
        flow_version";

    /// The calls that arrived since `from_ms` and went to a queue (a
    /// centre's or the crisis queue), for today's figures after a restart.
    pub async fn queued_calls_since(&self, from_ms: i64) -> Result<Vec<QueuedCall>> {
        let rows = sqlx::query(
            "SELECT crisis, centre, language, queued_ms, answered_ms, ended_ms, logged_ms, \
             disposition, callback, callback_outcome FROM call_records \
             WHERE arrived_ms >= $1 AND queued_ms IS NOT NULL \
             AND (route LIKE 'queue:%' OR route = 'crisis') ORDER BY arrived_ms",
        )
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let disposition: Option<String> = r.try_get("disposition")?;
                Ok(QueuedCall {
                    crisis: r.try_get::<i64, _>("crisis")? != 0,
                    centre: r.try_get("centre")?,
                    language: r.try_get("language")?,
                    queued_ms: r.try_get("queued_ms")?,
                    answered_ms: r.try_get("answered_ms")?,
                    ended_ms: r.try_get("ended_ms")?,
                    logged_ms: r.try_get("logged_ms")?,
                    abandoned: disposition.as_deref() == Some("abandoned_in_queue"),
                    callback: r.try_get::<i64, _>("callback")? != 0,
                    callback_outcome: r.try_get("callback_outcome")?,
                })
            })
            .collect()
    }

    pub async fn call(&self, call_id: &str) -> Result<Option<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records WHERE call_id = $1",
            Self::CALL_COLUMNS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::call_from_row).transpose()
    }

    /// Calls whose caller asked for a callback since `since_ms` and that were
    /// never answered, oldest request first: the queues hold callbacks in
    /// memory and take these back at start.
    pub async fn callbacks_requested(&self, since_ms: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT e.call_id AS call_id, MIN(e.id) AS first FROM call_events e \
             JOIN call_records r ON r.call_id = e.call_id \
             WHERE e.kind = 'callback_requested' AND e.at_ms >= $1 AND r.answered_ms IS NULL \
             GROUP BY e.call_id ORDER BY first",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("call_id")?))
            .collect()
    }

    pub async fn call_events(&self, call_id: &str) -> Result<Vec<CallEventRecord>> {
        let rows = sqlx::query(
            "SELECT at_ms, kind, detail FROM call_events WHERE call_id = $1 ORDER BY id",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CallEventRecord {
                    at_ms: r.try_get("at_ms")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Calls whose record says they never ended (e.g. the process died).
    pub async fn unfinished_calls(&self) -> Result<Vec<CallRecord>> {
        let sql = format!(
            "SELECT {} FROM call_records WHERE ended_ms IS NULL ORDER BY arrived_ms, call_id",
            Self::CALL_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::call_from_row).collect()
    }

    /// After a crash: every call whose record never ended is closed as
    /// [`Disposition::Interrupted`], at the time of its last recorded step
    /// (when the engine last knew of it). Returns the calls closed.
    pub async fn close_interrupted(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT r.call_id AS call_id, COALESCE(MAX(e.at_ms), r.arrived_ms) AS last_ms \
             FROM call_records r LEFT JOIN call_events e ON e.call_id = r.call_id \
             WHERE r.ended_ms IS NULL GROUP BY r.call_id, r.arrived_ms ORDER BY r.arrived_ms",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut closed = Vec::with_capacity(rows.len());
        let mut conn = self.pool.acquire().await?;
        for row in rows {
            let call_id: String = row.try_get("call_id")?;
            let last_ms: i64 = row.try_get("last_ms")?;
            self.record_step(
                &mut conn,
                &call_id,
                last_ms,
                &CallStep::Ended {
                    disposition: Disposition::Interrupted,
                },
            )
            .await?;
            closed.push(call_id);
        }
        Ok(closed)
    }

    /// Whether any call from `caller` was handled by `navigator`; never for
    /// a withheld caller, who is nobody in particular.
    pub async fn navigator_had_caller(&self, navigator: &str, caller: &Caller) -> Result<bool> {
        let Some(caller) = caller.number() else {
            return Ok(false);
        };
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM call_records WHERE navigator = $1 AND caller = $2",
        )
        .bind(navigator)
        .bind(caller)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Whether any call from `caller` was routed to `centre`; never for a
    /// withheld caller.
    pub async fn centre_had_caller(&self, centre: &str, caller: &Caller) -> Result<bool> {
        let Some(caller) = caller.number() else {
            return Ok(false);
        };
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM call_records WHERE centre = $1 AND caller = $2")
                .bind(centre)
                .bind(caller)
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

impl Write {
    /// The write's type and call, for a log line that shows no caller's number.
    pub(crate) fn describe(&self) -> (&'static str, &str) {
        match self {
            Write::Arrived { call_id, .. } => ("arrived", call_id),
            Write::Step { call_id, .. } => ("step", call_id),
            Write::Audit { entry } => ("audit", &entry.target),
        }
    }
}

impl Store {
    /// Applies one spooled write on `conn` (the spool writer's transaction),
    /// in a savepoint of its own.
    pub(crate) async fn apply(&self, conn: &mut sqlx::AnyConnection, write: &Write) -> Result<()> {
        match write {
            Write::Arrived {
                call_id,
                caller,
                dialled,
                at_ms,
            } => {
                self.call_arrived(conn, call_id, caller, dialled, *at_ms)
                    .await
            }
            Write::Step {
                call_id,
                at_ms,
                step,
            } => self.record_step(conn, call_id, *at_ms, step).await,
            Write::Audit { entry } => {
                let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
                self.audit_on(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The last record of spool `spool` the store has applied (0: none);
    /// makes its row if there is none.
    pub(crate) async fn spool_position(&self, spool: &str) -> Result<u64> {
        sqlx::query(
            "INSERT INTO spool_positions (spool, seq) VALUES ($1, 0) ON CONFLICT (spool) DO NOTHING",
        )
        .bind(spool)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT seq FROM spool_positions WHERE spool = $1")
            .bind(spool)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("seq")?).unwrap_or(0))
    }

    /// Records, in the writer's transaction, that the spool's records up to
    /// `seq` are applied.
    pub(crate) async fn set_spool_position(
        &self,
        conn: &mut sqlx::AnyConnection,
        spool: &str,
        seq: u64,
    ) -> Result<()> {
        sqlx::query("UPDATE spool_positions SET seq = $1 WHERE spool = $2")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(spool)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

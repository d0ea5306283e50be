//! What the navigator's desk keeps between page loads and engine restarts:
//! the page language per account, drafts of call logs, region corrections,
//! and the follow-up worklist with its outcomes.

use serde::Serialize;
use sqlx::Row;

use super::Store;
use super::call_records::CallStep;
use crate::calls::CallAttribute;
use crate::error::{Error, Result};
use crate::protocol::{CallSummary, Caller, Draft, FollowUpMethod, FollowUpOutcome, RegionSource};

/// Whose follow-ups a worklist shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpScope<'a> {
    /// The ones this navigator promised.
    Navigator(&'a str),
    /// Every one promised on a call of this centre.
    Centre(&'a str),
}

/// Where a follow-up stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    /// Due later than today.
    Upcoming,
    /// Due today.
    Due,
    /// Due before today and not done.
    Overdue,
    /// Its latest outcome closed it (`reached` or `closed`).
    Done,
}

/// One row of the follow-up worklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUpItem {
    pub log_id: i64,
    pub call_id: String,
    pub due: String,
    pub reason: String,
    pub method: Option<FollowUpMethod>,
    pub navigator: String,
    pub centre: Option<String>,
    pub caller: Caller,
    pub language: Option<String>,
    pub status: FollowUpStatus,
    /// The latest attempt's outcome, if any.
    pub outcome: Option<FollowUpOutcome>,
    pub attempts: i64,
}

/// The largest draft kept, in bytes of JSON.
pub const MAX_DRAFT_BYTES: usize = 60 * 1024;

impl Store {
    /// The language the account chose for the pages, if it chose one.
    pub async fn ui_language(&self, username: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT ui_language FROM accounts WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get("ui_language")?,
            None => None,
        })
    }

    /// Remembers the page language of an account ("en" or "fr").
    pub async fn set_ui_language(&self, username: &str, language: &str) -> Result<()> {
        if !matches!(language, "en" | "fr") {
            return Err(Error::Invalid(format!(
                "language {language:?}: use \"en\" or \"fr\""
            )));
        }
        sqlx::query("UPDATE accounts SET ui_language = $1 WHERE username = $2")
            .bind(language)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps what a navigator typed of a call's log, replacing the earlier draft.
    pub async fn save_draft(
        &self,
        navigator: &str,
        call_id: &str,
        draft: &serde_json::Value,
        now_ms: i64,
    ) -> Result<()> {
        if !draft.is_object() {
            return Err(Error::Invalid("draft: a JSON object".into()));
        }
        let body = draft.to_string();
        if body.len() > MAX_DRAFT_BYTES {
            return Err(Error::Invalid(format!(
                "draft of {} bytes is over the {MAX_DRAFT_BYTES}-byte limit",
                body.len()
            )));
        }
        sqlx::query(
            "INSERT INTO call_log_drafts (navigator, call_id, body, updated_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (navigator, call_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        )
        .bind(navigator)
        .bind(call_id)
        .bind(body)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A navigator's unsubmitted drafts, newest first, each with its call.
    pub async fn drafts(&self, navigator: &str) -> Result<Vec<Draft>> {
        let rows = sqlx::query(
            "SELECT d.call_id, d.body, d.updated_ms, r.caller, r.language, r.region, r.region_source, \
             r.centre, r.topic, r.crisis, r.arrived_ms, r.ivr_path \
             FROM call_log_drafts d LEFT JOIN call_records r ON r.call_id = d.call_id \
             WHERE d.navigator = $1 ORDER BY d.updated_ms DESC",
        )
        .bind(navigator)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let call_id: String = row.try_get("call_id")?;
                let body: String = row.try_get("body")?;
                let arrived: Option<i64> = row.try_get("arrived_ms")?;
                let call = match arrived {
                    Some(arrived_ms) => {
                        let source: Option<String> = row.try_get("region_source")?;
                        let path: Option<String> = row.try_get("ivr_path")?;
                        Some(CallSummary {
                            call_id: call_id.clone(),
                            caller: Caller::parse(
                                &row.try_get::<Option<String>, _>("caller")?
                                    .unwrap_or_default(),
                            ),
                            language: row.try_get("language")?,
                            region: row.try_get("region")?,
                            region_source: source.as_deref().and_then(RegionSource::parse),
                            centre: row.try_get("centre")?,
                            topic: row.try_get("topic")?,
                            crisis: row.try_get::<Option<i64>, _>("crisis")?.unwrap_or(0) != 0,
                            arrived_ms,
                            ivr_path: path
                                .and_then(|p| serde_json::from_str(&p).ok())
                                .unwrap_or_default(),
                        })
                    }
                    None => None,
                };
                Ok(Draft {
                    draft: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
                    updated_ms: row.try_get("updated_ms")?,
                    call_id,
                    call,
                })
            })
            .collect()
    }

    /// The navigator said the caller is in another region: the call record
    /// takes it, with the source `navigator_correction`.
    pub async fn correct_region(&self, call_id: &str, region: &str, at_ms: i64) -> Result<()> {
        let attribute = CallAttribute::Region {
            region: region.to_string(),
            source: RegionSource::NavigatorCorrection,
        };
        let mut conn = self.pool.acquire().await?;
        self.record_step(
            &mut conn,
            call_id,
            at_ms,
            &CallStep::Attribute { attribute },
        )
        .await
    }

    /// The follow-ups of a navigator or a centre that are not done, with
    /// their status on `today` (YYYY-MM-DD), by due date. Only the current
    /// version of each log counts (a correction replaces its follow-up).
    pub async fn follow_ups(
        &self,
        scope: FollowUpScope<'_>,
        today: &str,
    ) -> Result<Vec<FollowUpItem>> {
        let (filter, who) = match scope {
            FollowUpScope::Navigator(n) => ("l.navigator = $1", n),
            FollowUpScope::Centre(c) => ("r.centre = $1", c),
        };
        let sql = format!(
            "SELECT l.id, l.call_id, l.follow_up_due, l.follow_up_reason, l.follow_up_method, l.navigator, \
             r.centre, r.caller, r.language, \
             (SELECT COUNT(*) FROM follow_up_outcomes o WHERE o.log_id = l.id) AS attempts, \
             (SELECT o.outcome FROM follow_up_outcomes o WHERE o.log_id = l.id \
              ORDER BY o.at_ms DESC LIMIT 1) AS outcome \
             FROM call_logs l JOIN call_records r ON r.call_id = l.call_id \
             WHERE l.follow_up_due IS NOT NULL AND l.superseded_ms IS NULL AND {filter} \
             ORDER BY l.follow_up_due, l.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(who)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let due: String = row.try_get("follow_up_due")?;
            let outcome: Option<String> = row.try_get("outcome")?;
            let outcome = outcome.as_deref().and_then(FollowUpOutcome::parse);
            let status = match outcome {
                Some(FollowUpOutcome::Reached | FollowUpOutcome::Closed) => FollowUpStatus::Done,
                _ if due.as_str() < today => FollowUpStatus::Overdue,
                _ if due.as_str() == today => FollowUpStatus::Due,
                _ => FollowUpStatus::Upcoming,
            };
            if status == FollowUpStatus::Done {
                continue;
            }
            let method: Option<String> = row.try_get("follow_up_method")?;
            out.push(FollowUpItem {
                log_id: row.try_get("id")?,
                call_id: row.try_get("call_id")?,
                reason: row
                    .try_get::<Option<String>, _>("follow_up_reason")?
                    .unwrap_or_default(),
                method: method.as_deref().and_then(FollowUpMethod::parse),
                navigator: row.try_get("navigator")?,
                centre: row.try_get("centre")?,
                caller: Caller::parse(&row.try_get::<String, _>("caller")?),
                language: row.try_get("language")?,
                attempts: row.try_get("attempts")?,
                due,
                status,
                outcome,
            });
        }
        Ok(out)
    }

    /// The call and the navigator of a log with a follow-up, if it has one.
    pub async fn follow_up_owner(
        &self,
        log_id: i64,
    ) -> Result<Option<(String, String, Option<String>)>> {
        let row = sqlx::query(
            "SELECT l.call_id, l.navigator, r.centre FROM call_logs l \
             JOIN call_records r ON r.call_id = l.call_id \
             WHERE l.id = $1 AND l.follow_up_due IS NOT NULL",
        )
        .bind(log_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("call_id")?,
                r.try_get("navigator")?,
                r.try_get("centre")?,
            ))
        })
        .transpose()
    }

    /// Records one attempt at a follow-up.
    pub async fn record_follow_up_outcome(
        &self,
        log_id: i64,
        navigator: &str,
        outcome: FollowUpOutcome,
        notes: &str,
        at_ms: i64,
    ) -> Result<()> {
        if notes.len() > 16 * 1024 {
            return Err(Error::Invalid("notes longer than 16 KiB".into()));
        }
        sqlx::query(
            "INSERT INTO follow_up_outcomes (log_id, at_ms, navigator, outcome, notes) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(log_id)
        .bind(at_ms)
        .bind(navigator)
        .bind(outcome.as_str())
        .bind(notes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

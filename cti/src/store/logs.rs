//! Navigators' logs of calls, the taxonomy their codes come from, and a
//! caller's history (earlier calls with what was logged about them).

use serde::Serialize;
use sqlx::Row;

use super::{Backend, Store, flag};
use crate::error::{Error, Result};
use crate::protocol::{CallLog, Caller, Disposition, FollowUp, Need, PreviousContact};

/// A navigator's saved log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredLog {
    pub log_id: i64,
    pub navigator: String,
    pub client_id: String,
    pub saved_ms: i64,
    pub log: CallLog,
}
impl Store {
    /// Checks every code of a log against the taxonomy table.
    pub async fn check_taxonomy(&self, codes: &[String]) -> Result<()> {
        for code in codes {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM taxonomy WHERE code = $1")
                .bind(code)
                .fetch_one(&self.pool)
                .await?;
            if row.try_get::<i64, _>("n")? == 0 {
                return Err(Error::UnknownTaxonomyCode(code.clone()));
            }
        }
        Ok(())
    }

    /// The taxonomy codes known, sorted.
    pub async fn taxonomy_codes(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT code FROM taxonomy ORDER BY code")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("code")?)).collect()
    }

    /// Stores a navigator's log in one transaction. A log whose `client_id`
    /// this navigator used before is not stored again: the earlier log's id is
    /// returned with `true`.
    pub async fn save_call_log(
        &self,
        navigator: &str,
        client_id: &str,
        log: &CallLog,
        now_ms: i64,
    ) -> Result<(i64, bool)> {
        let mut conn = self.pool.acquire().await?;
        // `log_saved` promises the log survives anything, a power cut
        // included: on SQLite this commit syncs the disk (FULL), where the
        // call records, written many times a second, rely on WAL checkpoints.
        let sqlite = self.backend == Backend::Sqlite;
        if sqlite {
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
        }
        let result = self
            .save_call_log_on(&mut conn, navigator, client_id, log, now_ms)
            .await;
        if sqlite {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *conn)
                .await?;
        }
        result
    }

    async fn save_call_log_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        navigator: &str,
        client_id: &str,
        log: &CallLog,
        now_ms: i64,
    ) -> Result<(i64, bool)> {
        validate_log(log)?;
        let codes: Vec<String> = log
            .needs
            .iter()
            .map(|n| n.code.clone())
            .chain(log.referrals.iter().filter_map(|r| r.code.clone()))
            .collect();
        self.check_taxonomy(&codes).await?;
        let demographics = serde_json::to_string(&log.demographics).unwrap_or_else(|_| "{}".into());
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        let inserted = sqlx::query(
            "INSERT INTO call_logs (call_id, navigator, client_id, saved_ms, demographics, notes, \
             follow_up_due, follow_up_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (navigator, client_id) DO NOTHING RETURNING id",
        )
        .bind(&log.call_id)
        .bind(navigator)
        .bind(client_id)
        .bind(now_ms)
        .bind(demographics)
        .bind(&log.notes)
        .bind(log.follow_up.as_ref().map(|f| f.due.clone()))
        .bind(log.follow_up.as_ref().map(|f| f.reason.clone()))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            tx.rollback().await?;
            let row =
                sqlx::query("SELECT id FROM call_logs WHERE navigator = $1 AND client_id = $2")
                    .bind(navigator)
                    .bind(client_id)
                    .fetch_one(&self.pool)
                    .await?;
            return Ok((row.try_get("id")?, true));
        };
        let log_id: i64 = row.try_get("id")?;
        for (i, need) in log.needs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_log_needs (log_id, position, code, met) VALUES ($1, $2, $3, $4)",
            )
            .bind(log_id)
            .bind(i as i64)
            .bind(&need.code)
            .bind(flag(need.met))
            .execute(&mut *tx)
            .await?;
        }
        for (i, r) in log.referrals.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_log_referrals (log_id, position, name, code, phone) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(log_id)
            .bind(i as i64)
            .bind(&r.name)
            .bind(r.code.clone())
            .bind(r.phone.clone())
            .execute(&mut *tx)
            .await?;
        }
        self.event(
            &mut tx,
            &log.call_id,
            now_ms,
            "logged",
            &format!("{navigator} log {log_id}"),
        )
        .await?;
        tx.commit().await?;
        Ok((log_id, false))
    }

    /// Every log of a call, oldest first.
    pub async fn call_logs(&self, call_id: &str) -> Result<Vec<StoredLog>> {
        let rows = sqlx::query(
            "SELECT id, navigator, client_id, saved_ms, demographics, notes, follow_up_due, follow_up_reason \
             FROM call_logs WHERE call_id = $1 ORDER BY id",
        )
        .bind(call_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let log_id: i64 = row.try_get("id")?;
            let needs = self.log_needs(log_id).await?;
            let refs = sqlx::query(
                "SELECT name, code, phone FROM call_log_referrals WHERE log_id = $1 ORDER BY position",
            )
            .bind(log_id)
            .fetch_all(&self.pool)
            .await?;
            let referrals = refs
                .iter()
                .map(|r| {
                    Ok(crate::protocol::Referral {
                        name: r.try_get("name")?,
                        code: r.try_get("code")?,
                        phone: r.try_get("phone")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let demographics: String = row.try_get("demographics")?;
            let due: Option<String> = row.try_get("follow_up_due")?;
            let reason: Option<String> = row.try_get("follow_up_reason")?;
            out.push(StoredLog {
                log_id,
                navigator: row.try_get("navigator")?,
                client_id: row.try_get("client_id")?,
                saved_ms: row.try_get("saved_ms")?,
                log: CallLog {
                    call_id: call_id.to_string(),
                    needs,
                    referrals,
                    demographics: serde_json::from_str(&demographics).unwrap_or_default(),
                    notes: row.try_get("notes")?,
                    follow_up: due.map(|due| FollowUp {
                        due,
                        reason: reason.unwrap_or_default(),
                    }),
                },
            });
        }
        Ok(out)
    }

    async fn log_needs(&self, log_id: i64) -> Result<Vec<Need>> {
        let rows =
            sqlx::query("SELECT code, met FROM call_log_needs WHERE log_id = $1 ORDER BY position")
                .bind(log_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(Need {
                    code: r.try_get("code")?,
                    met: r.try_get::<i64, _>("met")? != 0,
                })
            })
            .collect()
    }

    /// Earlier calls from `caller` (newest first, at most `limit`), with the
    /// needs and follow-ups logged for them. `except` leaves out the call in
    /// progress. A withheld caller has no history: the other withheld calls
    /// on record are other people's.
    pub async fn previous_contacts(
        &self,
        caller: &Caller,
        except: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PreviousContact>> {
        let Some(caller) = caller.number() else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT call_id, arrived_ms, centre, topic, crisis, navigator, disposition FROM call_records \
             WHERE caller = $1 AND call_id <> $2 ORDER BY arrived_ms DESC, call_id DESC LIMIT $3",
        )
        .bind(caller)
        .bind(except.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let call_id: String = row.try_get("call_id")?;
            let logs = self.call_logs(&call_id).await?;
            let disposition: Option<String> = row.try_get("disposition")?;
            out.push(PreviousContact {
                at_ms: row.try_get("arrived_ms")?,
                centre: row.try_get("centre")?,
                topic: row.try_get("topic")?,
                crisis: row.try_get::<i64, _>("crisis")? != 0,
                navigator: row.try_get("navigator")?,
                disposition: disposition.as_deref().and_then(Disposition::parse),
                needs: logs
                    .iter()
                    .flat_map(|l| l.log.needs.iter().cloned())
                    .collect(),
                follow_up: logs.iter().rev().find_map(|l| l.log.follow_up.clone()),
                call_id,
            });
        }
        Ok(out)
    }
}

/// Checks the shape of a log before it touches the database.
fn validate_log(log: &CallLog) -> Result<()> {
    if log.call_id.is_empty() {
        return Err(Error::Invalid("call_id is empty".into()));
    }
    if let Some(f) = &log.follow_up
        && !is_date(&f.due)
    {
        return Err(Error::Invalid(format!(
            "follow_up.due {:?} is not a date (YYYY-MM-DD)",
            f.due
        )));
    }
    if log.notes.len() > 16 * 1024 {
        return Err(Error::Invalid("notes longer than 16 KiB".into()));
    }
    Ok(())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

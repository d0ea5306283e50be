//! Navigators' logs of calls, the taxonomy their codes come from, and a
//! caller's history (earlier calls with what was logged about them).

use serde::Serialize;
use sqlx::Row;

use super::{Backend, Store, flag};
use crate::error::{Error, Result};
use crate::protocol::{
    AgeBand, CallLog, Caller, Disposition, FollowUp, FollowUpMethod, Gender, Inquirer, Need,
    PreviousContact, Referral, UnmetReason,
};

/// A navigator's saved log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredLog {
    pub log_id: i64,
    pub navigator: String,
    pub client_id: String,
    pub saved_ms: i64,
    /// When a correction replaced this log; `None` for the current one.
    pub superseded_ms: Option<i64>,
    pub log: CallLog,
}
impl Store {
    /// Checks every code of a log against the active taxonomy; `field`
    /// names where each code sits in the log.
    pub async fn check_taxonomy(&self, codes: &[(String, String)]) -> Result<()> {
        for (field, code) in codes {
            let row = sqlx::query("SELECT retired FROM taxonomy WHERE code = $1")
                .bind(code)
                .fetch_optional(&self.pool)
                .await?;
            match row {
                None => return Err(Error::UnknownTaxonomyCode(code.clone())),
                Some(r) if r.try_get::<i64, _>("retired")? != 0 => {
                    return Err(Error::Field {
                        field: field.clone(),
                        reason: format!(
                            "{code} is no longer in the taxonomy; choose a current term"
                        ),
                    });
                }
                Some(_) => {}
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

    /// Stores a navigator's log in one transaction, and removes their draft
    /// of it. A log whose `client_id` this navigator used before is not
    /// stored again: the earlier log's id is returned with `true`. A log
    /// that `corrects` an earlier one marks it superseded (it is kept).
    pub async fn save_call_log(
        &self,
        navigator: &str,
        client_id: &str,
        log: &CallLog,
        crisis_call: bool,
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
            .save_call_log_on(&mut conn, navigator, client_id, log, crisis_call, now_ms)
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
        crisis_call: bool,
        now_ms: i64,
    ) -> Result<(i64, bool)> {
        validate_log(log, crisis_call)?;
        let earlier =
            sqlx::query("SELECT id FROM call_logs WHERE navigator = $1 AND client_id = $2")
                .bind(navigator)
                .bind(client_id)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(row) = earlier {
            return Ok((row.try_get("id")?, true));
        }
        let codes: Vec<(String, String)> =
            log.needs
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("needs[{i}].code"), n.code.clone()))
                .chain(log.referrals.iter().enumerate().filter_map(|(i, r)| {
                    r.code.clone().map(|c| (format!("referrals[{i}].code"), c))
                }))
                .collect();
        self.check_taxonomy(&codes).await?;
        let ids: Vec<&str> = log
            .referrals
            .iter()
            .filter_map(|r| r.service_id.as_deref())
            .collect();
        if !ids.is_empty() {
            let known = self.known_services(&ids).await?;
            for (i, r) in log.referrals.iter().enumerate() {
                if let Some(id) = &r.service_id
                    && !known.contains(id)
                {
                    return Err(Error::Field {
                        field: format!("referrals[{i}].service_id"),
                        reason: format!("{id} is not in the community directory"),
                    });
                }
            }
        }
        // A writer from the start: this transaction reads the call's record
        // before it writes, and on SQLite a reader cannot become a writer
        // once the spool has committed since (see `Store::begin_write`).
        let mut tx = match self.backend {
            Backend::Sqlite => sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?,
            Backend::Postgres => sqlx::Acquire::begin(&mut *conn).await?,
        };
        // What the reports filter on, copied from the call's record (see
        // migrations/*/0008_reports.sql).
        // On PostgreSQL the row is locked until the log is in, so a change of
        // region committed meanwhile reaches the log's copies too.
        let read = match self.backend {
            Backend::Sqlite => {
                "SELECT arrived_ms, region, centre, incident FROM call_records WHERE call_id = $1"
            }
            Backend::Postgres => {
                "SELECT arrived_ms, region, centre, incident FROM call_records WHERE call_id = $1 \
                 FOR UPDATE"
            }
        };
        let call = sqlx::query(read)
            .bind(&log.call_id)
            .fetch_optional(&mut *tx)
            .await?;
        let fact = |column: &str| -> Option<String> {
            call.as_ref()
                .and_then(|r| r.try_get::<Option<String>, _>(column).ok().flatten())
        };
        let (region, centre, incident) = (fact("region"), fact("centre"), fact("incident"));
        let arrived_ms: Option<i64> = call
            .as_ref()
            .and_then(|r| r.try_get::<i64, _>("arrived_ms").ok());
        if let Some(corrects) = log.corrects {
            let updated = sqlx::query(
                "UPDATE call_logs SET superseded_ms = $1 \
                 WHERE id = $2 AND call_id = $3 AND superseded_ms IS NULL",
            )
            .bind(now_ms)
            .bind(corrects)
            .bind(&log.call_id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(Error::Field {
                    field: "corrects".into(),
                    reason: format!(
                        "log {corrects} is not the current log of call {:?}",
                        log.call_id
                    ),
                });
            }
            sqlx::query("UPDATE call_log_needs SET is_current = 0 WHERE log_id = $1")
                .bind(corrects)
                .execute(&mut *tx)
                .await?;
        }
        let demographics = serde_json::to_string(&log.demographics).unwrap_or_else(|_| "{}".into());
        let crisis_details = log
            .crisis_details
            .as_ref()
            .map(|c| serde_json::to_string(c).unwrap_or_default());
        let follow_up = log.follow_up.as_ref();
        let row = sqlx::query(
            "INSERT INTO call_logs (call_id, navigator, client_id, saved_ms, demographics, notes, \
             follow_up_due, follow_up_reason, inquirer, area, age_band, gender, crisis_details, \
             follow_up_consent, follow_up_method, corrects, arrived_ms, region, centre, incident) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20) \
             ON CONFLICT (navigator, client_id) DO NOTHING RETURNING id",
        )
        .bind(&log.call_id)
        .bind(navigator)
        .bind(client_id)
        .bind(now_ms)
        .bind(demographics)
        .bind(&log.notes)
        .bind(follow_up.map(|f| f.due.clone()))
        .bind(follow_up.map(|f| f.reason.clone()))
        .bind(log.inquirer.map(|v| v.as_str()))
        .bind(log.area.clone())
        .bind(log.age_band.map(|v| v.as_str()))
        .bind(log.gender.map(|v| v.as_str()))
        .bind(crisis_details)
        .bind(follow_up.map(|f| flag(f.consent)))
        .bind(follow_up.and_then(|f| f.method).map(|m| m.as_str()))
        .bind(log.corrects)
        .bind(arrived_ms)
        .bind(region.clone())
        .bind(centre.clone())
        .bind(incident.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            // The same command raced itself: the other one stored it.
            tx.rollback().await?;
            return Box::pin(self.save_call_log_on(
                conn,
                navigator,
                client_id,
                log,
                crisis_call,
                now_ms,
            ))
            .await;
        };
        let log_id: i64 = row.try_get("id")?;
        for (i, need) in log.needs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_log_needs (log_id, position, code, met, unmet_reason, \
                 arrived_ms, region, centre, incident) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(log_id)
            .bind(i as i64)
            .bind(&need.code)
            .bind(flag(need.met))
            .bind(need.unmet_reason.map(|r| r.as_str()))
            .bind(arrived_ms)
            .bind(region.clone())
            .bind(centre.clone())
            .bind(incident.clone())
            .execute(&mut *tx)
            .await?;
        }
        for (i, r) in log.referrals.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_log_referrals (log_id, position, name, code, phone, service_id) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(log_id)
            .bind(i as i64)
            .bind(&r.name)
            .bind(r.code.clone())
            .bind(r.phone.clone())
            .bind(r.service_id.clone())
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE call_records SET logged_ms = $1 WHERE call_id = $2 AND logged_ms IS NULL",
        )
        .bind(now_ms)
        .bind(&log.call_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM call_log_drafts WHERE navigator = $1 AND call_id = $2")
            .bind(navigator)
            .bind(&log.call_id)
            .execute(&mut *tx)
            .await?;
        let detail = match log.corrects {
            Some(c) => format!("{navigator} log {log_id} corrects log {c}"),
            None => format!("{navigator} log {log_id}"),
        };
        self.event(&mut tx, &log.call_id, now_ms, "logged", &detail)
            .await?;
        tx.commit().await?;
        Ok((log_id, false))
    }

    /// Every log of a call, oldest first, corrected ones included.
    pub async fn call_logs(&self, call_id: &str) -> Result<Vec<StoredLog>> {
        let rows = sqlx::query(
            "SELECT id, navigator, client_id, saved_ms, demographics, notes, follow_up_due, \
             follow_up_reason, inquirer, area, age_band, gender, crisis_details, follow_up_consent, \
             follow_up_method, corrects, superseded_ms \
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
                "SELECT name, code, phone, service_id FROM call_log_referrals WHERE log_id = $1 ORDER BY position",
            )
            .bind(log_id)
            .fetch_all(&self.pool)
            .await?;
            let referrals = refs
                .iter()
                .map(|r| {
                    Ok(Referral {
                        name: r.try_get("name")?,
                        code: r.try_get("code")?,
                        phone: r.try_get("phone")?,
                        service_id: r.try_get("service_id")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let demographics: String = row.try_get("demographics")?;
            let due: Option<String> = row.try_get("follow_up_due")?;
            let reason: Option<String> = row.try_get("follow_up_reason")?;
            let consent: Option<i64> = row.try_get("follow_up_consent")?;
            let method: Option<String> = row.try_get("follow_up_method")?;
            let text = |c: &str| -> Result<Option<String>> { Ok(row.try_get(c)?) };
            let crisis: Option<String> = text("crisis_details")?;
            out.push(StoredLog {
                log_id,
                navigator: row.try_get("navigator")?,
                client_id: row.try_get("client_id")?,
                saved_ms: row.try_get("saved_ms")?,
                superseded_ms: row.try_get("superseded_ms")?,
                log: CallLog {
                    call_id: call_id.to_string(),
                    needs,
                    referrals,
                    inquirer: text("inquirer")?.as_deref().and_then(Inquirer::parse),
                    area: text("area")?,
                    age_band: text("age_band")?.as_deref().and_then(AgeBand::parse),
                    gender: text("gender")?.as_deref().and_then(Gender::parse),
                    demographics: serde_json::from_str(&demographics).unwrap_or_default(),
                    notes: row.try_get("notes")?,
                    crisis_details: crisis.and_then(|c| serde_json::from_str(&c).ok()),
                    follow_up: due.map(|due| FollowUp {
                        due,
                        reason: reason.unwrap_or_default(),
                        consent: consent.unwrap_or(0) != 0,
                        method: method.as_deref().and_then(FollowUpMethod::parse),
                    }),
                    corrects: row.try_get("corrects")?,
                },
            });
        }
        Ok(out)
    }

    /// The current (not corrected) log of a call, if it has one.
    pub async fn current_log(&self, call_id: &str) -> Result<Option<StoredLog>> {
        Ok(self
            .call_logs(call_id)
            .await?
            .into_iter()
            .rev()
            .find(|l| l.superseded_ms.is_none()))
    }

    async fn log_needs(&self, log_id: i64) -> Result<Vec<Need>> {
        let rows = sqlx::query(
            "SELECT code, met, unmet_reason FROM call_log_needs WHERE log_id = $1 ORDER BY position",
        )
        .bind(log_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let reason: Option<String> = r.try_get("unmet_reason")?;
                Ok(Need {
                    code: r.try_get("code")?,
                    met: r.try_get::<i64, _>("met")? != 0,
                    unmet_reason: reason.as_deref().and_then(UnmetReason::parse),
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
            let logs: Vec<StoredLog> = self
                .call_logs(&call_id)
                .await?
                .into_iter()
                .filter(|l| l.superseded_ms.is_none())
                .collect();
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
                referrals: logs
                    .iter()
                    .flat_map(|l| l.log.referrals.iter().cloned())
                    .collect(),
                call_id,
            });
        }
        Ok(out)
    }
}

/// The longest notes a log keeps (the page's text box stops there too).
pub const MAX_NOTES_CHARS: usize = 10_000;

/// Checks the shape of a log before it touches the database: every
/// problem names its field. Public so the `cti_frame` fuzz target
/// (`fuzz/`) runs it on every `log_call` a client could send; it reads
/// nothing but the log.
pub fn validate_log(log: &CallLog, crisis_call: bool) -> Result<()> {
    let bad = |field: &str, reason: &str| {
        Err(Error::Field {
            field: field.into(),
            reason: reason.into(),
        })
    };
    if log.call_id.is_empty() {
        return bad("call_id", "call_id is empty");
    }
    if log.needs.is_empty() {
        return bad("needs", "add at least one need");
    }
    for (i, need) in log.needs.iter().enumerate() {
        if !need.met && need.unmet_reason.is_none() {
            return bad(
                &format!("needs[{i}].unmet_reason"),
                "say why this need could not be met",
            );
        }
        if need.met && need.unmet_reason.is_some() {
            return bad(
                &format!("needs[{i}].unmet_reason"),
                "a met need has no unmet reason",
            );
        }
    }
    for (i, r) in log.referrals.iter().enumerate() {
        if r.name.trim().is_empty() {
            return bad(&format!("referrals[{i}].name"), "name the service");
        }
        if r.name.len() > 500 || r.phone.as_ref().is_some_and(|p| p.len() > 64) {
            return bad(&format!("referrals[{i}].name"), "too long");
        }
        if r.service_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 200)
        {
            return bad(&format!("referrals[{i}].service_id"), "not a directory id");
        }
    }
    if let Some(area) = &log.area
        && !is_area(area)
    {
        return bad(
            "area",
            "the first three characters of a postal code (K1A), a municipality, not_asked or declined",
        );
    }
    if log.notes.chars().count() > MAX_NOTES_CHARS {
        return bad("notes", "notes longer than 10,000 characters");
    }
    match &log.crisis_details {
        None if crisis_call => {
            return bad("crisis_details", "a crisis call needs its crisis details");
        }
        Some(c) if c.action.trim().is_empty() => {
            return bad("crisis_details.action", "say what was done");
        }
        Some(c) if c.emergency_confirmed && !c.emergency_services => {
            return bad(
                "crisis_details.emergency_confirmed",
                "confirmed only when emergency services were involved",
            );
        }
        _ => {}
    }
    if let Some(f) = &log.follow_up {
        if !is_date(&f.due) {
            return bad("follow_up.due", "a date (YYYY-MM-DD)");
        }
        if !f.consent {
            return bad(
                "follow_up.consent",
                "a follow-up needs the caller's consent",
            );
        }
        if f.method.is_none() {
            return bad("follow_up.method", "choose how to reach the caller");
        }
        if f.reason.trim().is_empty() {
            return bad("follow_up.reason", "say why to follow up");
        }
    }
    Ok(())
}

/// A postal area (the forward sortation area, `K1A`), a municipality name,
/// or one of the "not given" codes.
fn is_area(s: &str) -> bool {
    let s = s.trim();
    if matches!(s, "not_asked" | "declined") {
        return true;
    }
    let b = s.as_bytes();
    let fsa = b.len() == 3
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic();
    let municipality = (2..=80).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’' | '.'));
    fsa || municipality
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

//! What ops and the engine keep across restarts: activated flow versions,
//! SIP registrations, emergency mode and the audit log.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Store, flag};
use crate::error::Result;

/// An activated flow version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowVersion {
    pub version: String,
    pub hash: String,
    pub activated_ms: i64,
    pub activated_by: String,
}

/// Emergency mode, persisted so a restart keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emergency {
    pub active: bool,
    pub message: String,
    pub changed_by: String,
    pub changed_ms: i64,
    /// The incident tag calls arriving while it is on are recorded with
    /// (e.g. `2026-ottawa-flood`); empty for none.
    pub incident: String,
    /// The regions it applies to (callers whose number is from one of
    /// them, or from no known region); empty: province-wide.
    pub regions: Vec<String>,
}

/// Which audit rows to read (`GET /api/audit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Exactly this account.
    pub actor: Option<String>,
    /// Actions containing this (`flow.`, `GET /api/calls`).
    pub action: Option<String>,
    /// Targets containing this: a call id, a caller's number, an account.
    pub target: Option<String>,
    /// From this instant (epoch ms), inclusive.
    pub from_ms: i64,
    /// Until this instant (epoch ms), exclusive.
    pub to_ms: i64,
    /// At most this many rows, newest first.
    pub limit: i64,
}

/// One audit log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub peer: String,
}
impl Store {
    /// Records that a flow version was activated.
    pub async fn record_flow_activation(
        &self,
        version: &str,
        hash: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO flow_versions (version, hash, activated_ms, activated_by) VALUES ($1, $2, $3, $4)")
            .bind(version)
            .bind(hash)
            .bind(now_ms)
            .bind(by)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps the SIP bindings of one address of record (opaque JSON from the
    /// registrar), replacing what was there; `None` forgets it.
    pub async fn put_registration(
        &self,
        aor: &str,
        bindings: Option<(&str, i64)>,
        now_ms: i64,
    ) -> Result<()> {
        match bindings {
            Some((json, expires_ms)) => {
                sqlx::query(
                    "INSERT INTO registrations (aor, bindings, expires_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (aor) DO UPDATE SET \
                     bindings = excluded.bindings, expires_ms = excluded.expires_ms, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(aor)
                .bind(json)
                .bind(expires_ms)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM registrations WHERE aor = $1")
                    .bind(aor)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// The registrations that have not expired by `now_ms`: (aor, bindings JSON).
    pub async fn registrations(&self, now_ms: i64) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT aor, bindings FROM registrations WHERE expires_ms > $1 ORDER BY aor",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("aor")?, r.try_get("bindings")?)))
            .collect()
    }

    /// Keeps the files of a flow version (once: a version's files never
    /// change, its name is their hash).
    pub async fn keep_flow_files(
        &self,
        version: &str,
        files: &[crate::console::FlowFile],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in files {
            sqlx::query(
                "INSERT INTO flow_files (version, path, content) VALUES ($1, $2, $3) \
                 ON CONFLICT (version, path) DO NOTHING",
            )
            .bind(version)
            .bind(&f.path)
            .bind(&f.content)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The kept files of a flow version, by path; empty when none were kept.
    pub async fn flow_files(&self, version: &str) -> Result<Vec<crate::console::FlowFile>> {
        let rows =
            sqlx::query("SELECT path, content FROM flow_files WHERE version = $1 ORDER BY path")
                .bind(version)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::console::FlowFile {
                    path: r.try_get("path")?,
                    content: r.try_get("content")?,
                })
            })
            .collect()
    }

    /// Activated flow versions, newest first.
    pub async fn flow_versions(&self) -> Result<Vec<FlowVersion>> {
        let rows = sqlx::query(
            "SELECT version, hash, activated_ms, activated_by FROM flow_versions ORDER BY activated_ms DESC, id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FlowVersion {
                    version: r.try_get("version")?,
                    hash: r.try_get("hash")?,
                    activated_ms: r.try_get("activated_ms")?,
                    activated_by: r.try_get("activated_by")?,
                })
            })
            .collect()
    }

    /// The incident tags calls were recorded with, newest first.
    pub async fn incidents(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT incident, MAX(arrived_ms) AS last FROM call_records \
             WHERE incident IS NOT NULL GROUP BY incident ORDER BY last DESC LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("incident")?))
            .collect()
    }

    pub async fn emergency(&self) -> Result<Emergency> {
        let r = sqlx::query(
            "SELECT active, message, changed_by, changed_ms, incident, regions FROM emergency_mode WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Emergency {
            active: r.try_get::<i64, _>("active")? != 0,
            message: r.try_get("message")?,
            changed_by: r.try_get("changed_by")?,
            changed_ms: r.try_get("changed_ms")?,
            incident: r.try_get("incident")?,
            regions: r
                .try_get::<String, _>("regions")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    pub async fn set_emergency(
        &self,
        active: bool,
        message: &str,
        incident: &str,
        regions: &[String],
        by: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE emergency_mode SET active = $1, message = $2, changed_by = $3, changed_ms = $4, incident = $5, regions = $6 WHERE id = 1")
            .bind(flag(active))
            .bind(message)
            .bind(by)
            .bind(now_ms)
            .bind(incident)
            .bind(regions.join(","))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.audit_on(&mut conn, e).await
    }

    /// [`Store::audit`] on a connection (or transaction) the caller holds.
    pub(crate) async fn audit_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        e: &AuditEntry,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, action, target, outcome, detail, peer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.at_ms)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.outcome)
        .bind(&e.detail)
        .bind(&e.peer)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The newest audit rows, newest first.
    /// The audit rows that match `filter`, newest first.
    pub async fn audit_search(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        // One fixed statement: a filter not given is the empty text, which
        // its condition lets through.
        let like = |v: &str| {
            format!(
                "%{}%",
                v.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        };
        let actor = filter.actor.clone().unwrap_or_default();
        let action = filter.action.as_deref().map(like).unwrap_or_default();
        let target = filter.target.as_deref().map(like).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, target, outcome, detail, peer FROM audit_log \
             WHERE ($1 = '' OR actor = $2) \
             AND ($3 = '' OR action LIKE $4 ESCAPE '\\') \
             AND ($5 = '' OR target LIKE $6 ESCAPE '\\') \
             AND at_ms >= $7 AND at_ms < $8 ORDER BY id DESC LIMIT $9",
        )
        .bind(&actor)
        .bind(&actor)
        .bind(&action)
        .bind(&action)
        .bind(&target)
        .bind(&target)
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    peer: r.try_get("peer")?,
                })
            })
            .collect()
    }

    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, target, outcome, detail, peer FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                    peer: r.try_get("peer")?,
                })
            })
            .collect()
    }
}

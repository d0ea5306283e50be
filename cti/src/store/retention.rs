//! Retention: after a configured number of days, the caller's number in a
//! call record is replaced by a keyed hash of it (`h:` and 24 hex digits).
//! The same number always gives the same hash, so reports still count
//! repeat callers; without the key (kept in the store, never shown) the
//! number cannot be found again by trying every number. The events and
//! audit rows that named the number get the hash too; navigators' unsent
//! drafts of those calls are deleted. Free-text notes are not scanned.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::Row;

use super::{AuditEntry, Store};
use crate::error::Result;

/// What a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Call records whose caller number was replaced.
    pub records: u64,
    /// Distinct numbers replaced.
    pub numbers: u64,
    /// Drafts of those calls deleted.
    pub drafts: u64,
}

const KEY_NAME: &str = "caller_hash_key";

impl Store {
    /// Replaces the caller numbers of calls that arrived before `cutoff_ms`
    /// by their keyed hash (see the module docs), and audits it as `actor`.
    pub async fn purge_callers(
        &self,
        cutoff_ms: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<PurgeReport> {
        let key = self.caller_hash_key().await?;
        let numbers: Vec<String> = sqlx::query(
            "SELECT DISTINCT caller FROM call_records \
             WHERE arrived_ms < $1 AND caller LIKE '+%'",
        )
        .bind(cutoff_ms)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("caller"))
        .collect::<std::result::Result<_, _>>()?;
        let mut report = PurgeReport {
            numbers: numbers.len() as u64,
            ..PurgeReport::default()
        };
        let mut tx = self.begin_write().await?;
        for number in &numbers {
            let hashed = caller_hash(&key, number);
            sqlx::query(
                "UPDATE call_events SET detail = REPLACE(detail, $1, $2) WHERE call_id IN \
                 (SELECT call_id FROM call_records WHERE caller = $1 AND arrived_ms < $3)",
            )
            .bind(number)
            .bind(&hashed)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
            let drafts = sqlx::query(
                "DELETE FROM call_log_drafts WHERE call_id IN \
                 (SELECT call_id FROM call_records WHERE caller = $1 AND arrived_ms < $2)",
            )
            .bind(number)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
            report.drafts += drafts.rows_affected();
            let records = sqlx::query(
                "UPDATE call_records SET caller = $2 WHERE caller = $1 AND arrived_ms < $3",
            )
            .bind(number)
            .bind(&hashed)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
            report.records += records.rows_affected();
            sqlx::query(
                "UPDATE audit_log SET target = REPLACE(target, $1, $2), detail = REPLACE(detail, $1, $2) \
                 WHERE at_ms < $3 AND (target LIKE '%' || $1 || '%' OR detail LIKE '%' || $1 || '%')",
            )
            .bind(number)
            .bind(&hashed)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        }
        self.audit_on(
            &mut tx,
            &AuditEntry {
                at_ms: now_ms,
                actor: actor.to_owned(),
                action: "store.purge".into(),
                target: format!("calls before {cutoff_ms}"),
                outcome: "ok".into(),
                detail: format!(
                    "{} records, {} numbers hashed, {} drafts deleted",
                    report.records, report.numbers, report.drafts
                ),
                peer: String::new(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// The key of the caller hashes, made (random) the first time.
    async fn caller_hash_key(&self) -> Result<Vec<u8>> {
        let found = sqlx::query("SELECT value FROM store_secrets WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = found {
            let hex: String = row.try_get("value")?;
            return Ok(hex.into_bytes());
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| {
            crate::Error::Io(std::io::Error::other(format!(
                "no randomness for the key: {e}"
            )))
        })?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Two purges at once: the first key written wins; read it back.
        sqlx::query(
            "INSERT INTO store_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_NAME)
        .bind(&hex)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM store_secrets WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<String, _>("value")?.into_bytes())
    }
}

/// `h:` and the first 24 hex digits of HMAC-SHA256(key, number).
pub fn caller_hash(key: &[u8], number: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(number.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("h:{hex}")
}

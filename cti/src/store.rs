//! The store: call records, call events, navigator logs, accounts, sessions,
//! flow versions, emergency mode and the audit log, in SQLite or PostgreSQL.
//!
//! Both backends go through sqlx's `Any` driver with the same SQL text
//! (`$1` placeholders work in both), so a query written here answers the same
//! on both; the schemas differ only in column types (see
//! `migrations/sqlite/` and `migrations/postgres/`). Queries are checked at
//! run time: building needs no database.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};

use crate::error::{Error, Result};
use crate::protocol::{
    AccountInfo, CallLog, Caller, Disposition, FollowUp, Need, PreviousContact, RegionSource, Role,
};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "taxonomy",
        include_str!("../../migrations/sqlite/0002_taxonomy.sql"),
    ),
    (
        3,
        "registrations",
        include_str!("../../migrations/sqlite/0003_registrations.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "taxonomy",
        include_str!("../../migrations/postgres/0002_taxonomy.sql"),
    ),
    (
        3,
        "registrations",
        include_str!("../../migrations/postgres/0003_registrations.sql"),
    ),
];

fn migrator(backend: Backend) -> Migrator {
    let list = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    Migrator::with_migrations(
        list.iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// An account as stored, credentials included (never serialized to clients).
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub info: AccountInfo,
    pub password_hash: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    pub disabled: bool,
}

/// A new account for [`Store::insert_account`].
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub info: AccountInfo,
    pub password_hash: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

/// A stored session token (by hash).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub username: String,
    pub expires_ms: i64,
    pub revoked: bool,
}

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
}

/// One row of the append-only call event table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEventRecord {
    pub at_ms: i64,
    pub kind: String,
    pub detail: String,
}

/// A navigator's saved log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredLog {
    pub log_id: i64,
    pub navigator: String,
    pub client_id: String,
    pub saved_ms: i64,
    pub log: CallLog,
}

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
}

/// One audit log row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub detail: String,
    pub peer: String,
}

/// A column of a call record that an attribute event sets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CallColumn {
    Language,
    Centre,
    Topic,
    Crisis,
    Callback,
}

/// The database, behind a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl Store {
    /// Connects to `sqlite://PATH` (the file is created if missing and put in
    /// WAL mode) or `postgres://…`, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            if path.is_empty() {
                return Err(Error::BadDbUrl(url.to_string()));
            }
            let url = if path.contains('?') {
                format!("sqlite://{path}")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(Error::BadDbUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let max = match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        // WAL with NORMAL: a commit survives the process
                        // dying without a disk sync of its own; the WAL is
                        // synced at checkpoints. What is acknowledged to a
                        // person (a navigator's log) is committed with FULL.
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrator(backend).run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests and reports that need a query of their own.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The SQLite journal mode ("wal"), for checks; None on PostgreSQL.
    pub async fn sqlite_journal_mode(&self) -> Result<Option<String>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(row.try_get::<String, _>(0)?))
    }

    // ---- accounts ----

    pub async fn insert_account(&self, a: &NewAccount, now_ms: i64) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO accounts (username, role, centre, languages, crisis_trained, \
             password_hash, ha1_md5, ha1_sha256, disabled, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $9) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&a.info.username)
        .bind(a.info.role.as_str())
        .bind(&a.info.centre)
        .bind(a.info.languages.join(","))
        .bind(flag(a.info.crisis_trained))
        .bind(&a.password_hash)
        .bind(&a.ha1_md5)
        .bind(&a.ha1_sha256)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(Error::AccountExists(a.info.username.clone()));
        }
        Ok(())
    }

    fn account_from_row(row: &AnyRow) -> Result<AccountRecord> {
        let role: String = row.try_get("role")?;
        let languages: String = row.try_get("languages")?;
        Ok(AccountRecord {
            info: AccountInfo {
                username: row.try_get("username")?,
                role: Role::parse(&role)
                    .ok_or_else(|| Error::Invalid(format!("bad role {role:?} in store")))?,
                centre: row.try_get("centre")?,
                languages: languages
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                crisis_trained: row.try_get::<i64, _>("crisis_trained")? != 0,
            },
            password_hash: row.try_get("password_hash")?,
            ha1_md5: row.try_get("ha1_md5")?,
            ha1_sha256: row.try_get("ha1_sha256")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
        })
    }

    pub async fn account(&self, username: &str) -> Result<Option<AccountRecord>> {
        let row = sqlx::query(
            "SELECT username, role, centre, languages, crisis_trained, password_hash, \
             ha1_md5, ha1_sha256, disabled FROM accounts WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    pub async fn accounts(&self) -> Result<Vec<AccountRecord>> {
        let rows = sqlx::query(
            "SELECT username, role, centre, languages, crisis_trained, password_hash, \
             ha1_md5, ha1_sha256, disabled FROM accounts ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::account_from_row).collect()
    }

    pub async fn set_account_disabled(
        &self,
        username: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<()> {
        let res =
            sqlx::query("UPDATE accounts SET disabled = $1, updated_ms = $2 WHERE username = $3")
                .bind(flag(disabled))
                .bind(now_ms)
                .bind(username)
                .execute(&self.pool)
                .await?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchAccount(username.to_string()));
        }
        Ok(())
    }

    pub async fn set_account_password(
        &self,
        username: &str,
        password_hash: &str,
        ha1_md5: &str,
        ha1_sha256: &str,
        now_ms: i64,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE accounts SET password_hash = $1, ha1_md5 = $2, ha1_sha256 = $3, updated_ms = $4 \
             WHERE username = $5",
        )
        .bind(password_hash)
        .bind(ha1_md5)
        .bind(ha1_sha256)
        .bind(now_ms)
        .bind(username)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchAccount(username.to_string()));
        }
        Ok(())
    }

    // ---- sessions ----

    pub async fn insert_session(
        &self,
        token_hash: &str,
        username: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, username, created_ms, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(username)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT username, expires_ms, revoked_ms FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(SessionRecord {
                username: row.try_get("username")?,
                expires_ms: row.try_get("expires_ms")?,
                revoked: row.try_get::<Option<i64>, _>("revoked_ms")?.is_some(),
            })
        })
        .transpose()
    }

    pub async fn revoke_session(&self, token_hash: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_ms = $1 WHERE token_hash = $2 AND revoked_ms IS NULL",
        )
        .bind(now_ms)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes every session of an account (on disable and password change).
    pub async fn revoke_sessions_of(&self, username: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET revoked_ms = $1 WHERE username = $2 AND revoked_ms IS NULL",
        )
        .bind(now_ms)
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- call records and events ----

    async fn event(
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

    /// The caller reached an IVR step: it becomes the last known step and the
    /// IVR path (kept whole by the caller of this method) is rewritten.
    pub(crate) async fn call_step(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        step: &str,
        ivr_path: &[String],
    ) -> Result<()> {
        let path = serde_json::to_string(ivr_path).unwrap_or_else(|_| "[]".into());
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query("UPDATE call_records SET last_step = $1, ivr_path = $2 WHERE call_id = $3")
            .bind(step)
            .bind(path)
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        self.event(&mut tx, call_id, at_ms, "ivr_step", step)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn call_attribute(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        column: CallColumn,
        text: Option<&str>,
        number: i64,
    ) -> Result<()> {
        let (sql, name) = match column {
            CallColumn::Language => (
                "UPDATE call_records SET language = $1 WHERE call_id = $2",
                "language",
            ),
            CallColumn::Centre => (
                "UPDATE call_records SET centre = $1 WHERE call_id = $2",
                "centre",
            ),
            CallColumn::Topic => (
                "UPDATE call_records SET topic = $1 WHERE call_id = $2",
                "topic",
            ),
            CallColumn::Crisis => (
                "UPDATE call_records SET crisis = $1 WHERE call_id = $2",
                "crisis",
            ),
            CallColumn::Callback => (
                "UPDATE call_records SET callback = $1 WHERE call_id = $2",
                "callback",
            ),
        };
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        let q = sqlx::query(sql);
        let q = match column {
            CallColumn::Crisis | CallColumn::Callback => q.bind(number),
            _ => q.bind(text.map(str::to_string)),
        };
        q.bind(call_id).execute(&mut *tx).await?;
        let detail = match text {
            Some(t) => format!("{name}={t}"),
            None => format!("{name}={number}"),
        };
        self.event(&mut tx, call_id, at_ms, "attribute", &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's region and where it came from, as one event.
    pub(crate) async fn call_region(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        region: &str,
        source: RegionSource,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query("UPDATE call_records SET region = $1, region_source = $2 WHERE call_id = $3")
            .bind(region)
            .bind(source.as_str())
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        self.event(
            &mut tx,
            call_id,
            at_ms,
            "attribute",
            &format!("region={region} ({})", source.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn call_timestamp(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        kind: &'static str,
        detail: &str,
    ) -> Result<()> {
        let sql = match kind {
            "ivr_answered" => {
                "UPDATE call_records SET ivr_answered_ms = $1, last_step = $2 WHERE call_id = $3"
            }
            "answered" => {
                "UPDATE call_records SET answered_ms = $1, last_step = $2 WHERE call_id = $3"
            }
            _ => return Err(Error::Invalid(format!("no timestamp for {kind}"))),
        };
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query(sql)
            .bind(at_ms)
            .bind(kind)
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        self.event(&mut tx, call_id, at_ms, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn call_routed(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        route: &str,
        centre: Option<&str>,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query(
            "UPDATE call_records SET queued_ms = $1, route = $2, centre = COALESCE($3, centre), \
             last_step = 'routed' WHERE call_id = $4",
        )
        .bind(at_ms)
        .bind(route)
        .bind(centre.map(str::to_string))
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        self.event(&mut tx, call_id, at_ms, "routed", route).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn call_offered(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        navigator: &str,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query(
            "UPDATE call_records SET offered_ms = $1, navigator = $2, last_step = 'offered' WHERE call_id = $3",
        )
        .bind(at_ms)
        .bind(navigator)
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        self.event(&mut tx, call_id, at_ms, "offered", navigator)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn call_ended(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        disposition: Disposition,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query(
            "UPDATE call_records SET ended_ms = $1, disposition = $2, last_step = 'ended' WHERE call_id = $3",
        )
        .bind(at_ms)
        .bind(disposition.as_str())
        .bind(call_id)
        .execute(&mut *tx)
        .await?;
        self.event(&mut tx, call_id, at_ms, "ended", disposition.as_str())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends an event that changes no column (an offer taken back), on the
    /// event task's connection, in its own savepoint.
    pub(crate) async fn call_event(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        self.event(&mut tx, call_id, at_ms, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A step of the call in the queues (queued, overflowed, no_answer, …):
    /// an event, and the call's last known step.
    pub(crate) async fn call_queue_step(
        &self,
        conn: &mut sqlx::AnyConnection,
        call_id: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
        sqlx::query("UPDATE call_records SET last_step = $1 WHERE call_id = $2")
            .bind(kind)
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        self.event(&mut tx, call_id, at_ms, kind, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends an event that changes no column (a navigator's hangup, a transfer).
    pub(crate) async fn call_note(
        &self,
        call_id: &str,
        at_ms: i64,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.event(&mut conn, call_id, at_ms, kind, detail).await
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
            last_step: row.try_get("last_step")?,
        })
    }

    const CALL_COLUMNS: &'static str = "call_id, caller, dialled, arrived_ms, ivr_answered_ms, queued_ms, \
        offered_ms, answered_ms, ended_ms, language, region, region_source, centre, topic, crisis, route, \
        ivr_path, navigator, callback, disposition, last_step";

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

    // ---- taxonomy and navigator logs ----

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

    // ---- flows, emergency mode, audit ----

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

    pub async fn emergency(&self) -> Result<Emergency> {
        let r = sqlx::query(
            "SELECT active, message, changed_by, changed_ms FROM emergency_mode WHERE id = 1",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Emergency {
            active: r.try_get::<i64, _>("active")? != 0,
            message: r.try_get("message")?,
            changed_by: r.try_get("changed_by")?,
            changed_ms: r.try_get("changed_ms")?,
        })
    }

    pub async fn set_emergency(
        &self,
        active: bool,
        message: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE emergency_mode SET active = $1, message = $2, changed_by = $3, changed_ms = $4 WHERE id = 1")
            .bind(flag(active))
            .bind(message)
            .bind(by)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit rows, newest first.
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

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
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

/// Opens a SQLite store in a file under `dir` (for tests and tools).
pub async fn sqlite_in(dir: &Path) -> Result<Store> {
    Store::connect(&format!("sqlite://{}", dir.join("frontdoor.db").display())).await
}

#[cfg(test)]
mod migration_list_tests {
    use super::*;

    /// Every file of the migrations folders is compiled in, in order, for
    /// both backends alike.
    #[test]
    fn every_migration_file_is_listed_for_both_backends() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        for (dir, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = list
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, listed, "migrations/{dir}");
        }
    }
}

//! The store: call records, call events, navigator logs, accounts, sessions,
//! flow versions, emergency mode and the audit log, in SQLite or PostgreSQL.
//!
//! Both backends go through sqlx's `Any` driver with the same SQL text
//! (`$1` placeholders work in both), so a query written here answers the same
//! on both; the schemas differ only in column types (see
//! `migrations/sqlite/` and `migrations/postgres/`). Queries are checked at
//! run time: building needs no database.
//!
//! One file per concern: `accounts` (accounts and their sessions),
//! `call_records` (call records and their events; every step of a call is
//! written by one method, `record_step`), `logs` (navigators' logs, the
//! taxonomy and callers' history), `desk` (drafts, page language, region
//! corrections, follow-ups) and `ops` (flow versions, registrations,
//! emergency mode, the audit log).

mod accounts;
pub(crate) mod bulk;
mod call_records;
mod desk;
mod directory;
mod logs;
mod ops;
mod retention;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};

use crate::error::{Error, Result};

pub use accounts::{AccountRecord, NewAccount, SessionRecord};
pub use call_records::{CallEventRecord, CallRecord, QueuedCall};
pub(crate) use call_records::{CallStep, Write};
pub use desk::{FollowUpItem, FollowUpScope, FollowUpStatus, MAX_DRAFT_BYTES};
pub use directory::{Candidate, CandidateQuery, ImportSummary, Shown};
pub use logs::{StoredLog, validate_log};
pub use ops::{AuditEntry, AuditFilter, Emergency, FlowVersion};
pub use retention::{PurgeReport, caller_hash};

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
        include_str!("../../../migrations/sqlite/0001_schema.sql"),
    ),
    (
        2,
        "taxonomy",
        include_str!("../../../migrations/sqlite/0002_taxonomy.sql"),
    ),
    (
        3,
        "registrations",
        include_str!("../../../migrations/sqlite/0003_registrations.sql"),
    ),
    (
        4,
        "desk",
        include_str!("../../../migrations/sqlite/0004_desk.sql"),
    ),
    (
        5,
        "call_ids",
        include_str!("../../../migrations/sqlite/0005_call_ids.sql"),
    ),
    (
        6,
        "spool",
        include_str!("../../../migrations/sqlite/0006_spool.sql"),
    ),
    (
        7,
        "diversion",
        include_str!("../../../migrations/sqlite/0007_diversion.sql"),
    ),
    (
        8,
        "reports",
        include_str!("../../../migrations/sqlite/0008_reports.sql"),
    ),
    (
        9,
        "directory",
        include_str!("../../../migrations/sqlite/0009_directory.sql"),
    ),
    (
        10,
        "flow_files",
        include_str!("../../../migrations/sqlite/0010_flow_files.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "schema",
        include_str!("../../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        "taxonomy",
        include_str!("../../../migrations/postgres/0002_taxonomy.sql"),
    ),
    (
        3,
        "registrations",
        include_str!("../../../migrations/postgres/0003_registrations.sql"),
    ),
    (
        4,
        "desk",
        include_str!("../../../migrations/postgres/0004_desk.sql"),
    ),
    (
        5,
        "call_ids",
        include_str!("../../../migrations/postgres/0005_call_ids.sql"),
    ),
    (
        6,
        "spool",
        include_str!("../../../migrations/postgres/0006_spool.sql"),
    ),
    (
        7,
        "diversion",
        include_str!("../../../migrations/postgres/0007_diversion.sql"),
    ),
    (
        8,
        "reports",
        include_str!("../../../migrations/postgres/0008_reports.sql"),
    ),
    (
        9,
        "directory",
        include_str!("../../../migrations/postgres/0009_directory.sql"),
    ),
    (
        10,
        "flow_files",
        include_str!("../../../migrations/postgres/0010_flow_files.sql"),
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
/// The database, behind a connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// Cleared while the spool writer finds the database unreachable, so
    /// the call path skips its reads instead of waiting on a dead server.
    available: Arc<AtomicBool>,
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// A store URL fit for a log line or an error: a PostgreSQL URL's password
/// becomes `***` (`postgres://frontdoor:***@db.example.org/frontdoor`).
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The user-info ends at the last '@' before the host (a password may hold '@').
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => {
            let (userinfo, host) = rest.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***{host}"),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redacted;

    #[test]
    fn a_database_password_never_reaches_a_log() {
        assert_eq!(
            redacted("postgres://frontdoor:s3cr@t!@db.example.org:5432/frontdoor?sslmode=require"),
            "postgres://frontdoor:***@db.example.org:5432/frontdoor?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://frontdoor@db/frontdoor"),
            "postgres://frontdoor@db/frontdoor"
        );
        assert_eq!(redacted("sqlite://frontdoor.db"), "sqlite://frontdoor.db");
        assert_eq!(redacted("not a url"), "not a url");
    }
}

/// Creates a missing SQLite file readable and writable by its owner only:
/// it holds callers' numbers and what they needed. (SQLite gives its WAL
/// and shared-memory files the same permissions.) An existing file is left
/// as it is.
fn create_owner_only(path: &str) -> Result<()> {
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Io(e)),
    }
}

impl Store {
    /// Whether the database answered the spool writer's last try. While it
    /// does not, what runs during calls (screen pops, the registrar, the
    /// queues' account checks) goes on from what it knows rather than wait.
    pub fn available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    pub(crate) fn set_available(&self, up: bool) {
        self.available.store(up, Ordering::Relaxed);
    }

    /// `query`, for what runs during calls: not tried while the database
    /// is known to be down ([`Store::available`]), given up after `wait`;
    /// either way [`Error::Unavailable`].
    pub async fn within<T>(
        &self,
        wait: Duration,
        query: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if !self.available() {
            return Err(Error::Unavailable);
        }
        tokio::time::timeout(wait, query)
            .await
            .unwrap_or(Err(Error::Unavailable))
    }

    /// Connects to `sqlite://PATH` (the file is created if missing and put in
    /// WAL mode) or `postgres://…`, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            if path.is_empty() {
                return Err(Error::BadDbUrl(url.to_string()));
            }
            create_owner_only(path.split('?').next().unwrap_or(path))?;
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
        Ok(Store {
            pool,
            backend,
            available: Arc::new(AtomicBool::new(true)),
        })
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for tests and reports that need a query of their own.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`, waiting as the busy timeout allows): a
    /// deferred transaction that reads first cannot become a writer once
    /// another connection has committed since its read, and fails at once
    /// with "database is locked" whatever the busy timeout (the starter
    /// taxonomy's import failed so while the spool was being replayed).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
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

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
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

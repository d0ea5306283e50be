//! The one error type of frontdoor-cti.

/// Everything that can go wrong in the CTI crate, by kind: the database, a
/// person's bad input (the caller of the API or a navigator's client), and
/// misuse of this crate by the code that embeds it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed a query.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration could not be applied at start.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The `--db` URL names no backend this build speaks.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    BadDbUrl(String),
    /// Input from a person was wrong; the message says what and is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// One field of a person's input was wrong: `field` is its path in the
    /// request (`needs[1].unmet_reason`), so a page shows `reason` next to it.
    #[error("{field}: {reason}")]
    Field { field: String, reason: String },
    /// A need or referral was coded with a term that is not in the taxonomy table.
    #[error("unknown taxonomy code {0:?}")]
    UnknownTaxonomyCode(String),
    /// No account has this username.
    #[error("no account named {0:?}")]
    NoSuchAccount(String),
    /// `user add` for a username that is taken.
    #[error("an account named {0:?} already exists")]
    AccountExists(String),
    /// No call record has this id.
    #[error("no call {0:?}")]
    NoSuchCall(String),
    /// Reading stdin or binding a socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database does not answer now (the spool writer found it down,
    /// or it took too long): what was asked is done without it.
    #[error("the database does not answer now")]
    Unavailable,
    /// Password hashing failed (a bug or a resource problem, never bad input).
    #[error("password hashing: {0}")]
    PasswordHash(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

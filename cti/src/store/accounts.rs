//! Accounts and their login sessions.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, flag};
use crate::error::{Error, Result};
use crate::protocol::{AccountInfo, Role};

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
impl Store {
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

    /// Sets what an account takes: its centre, languages and crisis training.
    pub async fn set_account_skills(
        &self,
        username: &str,
        centre: &str,
        languages: &[String],
        crisis_trained: bool,
        now_ms: i64,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE accounts SET centre = $1, languages = $2, crisis_trained = $3, updated_ms = $4 \
             WHERE username = $5",
        )
        .bind(centre)
        .bind(languages.join(","))
        .bind(flag(crisis_trained))
        .bind(now_ms)
        .bind(username)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(Error::NoSuchAccount(username.to_string()));
        }
        Ok(())
    }

    /// Sets an account's SIP digest credentials only (a new phone secret).
    pub async fn set_sip_credentials(
        &self,
        username: &str,
        ha1_md5: &str,
        ha1_sha256: &str,
        now_ms: i64,
    ) -> Result<()> {
        let res = sqlx::query(
            "UPDATE accounts SET ha1_md5 = $1, ha1_sha256 = $2, updated_ms = $3 WHERE username = $4",
        )
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
}

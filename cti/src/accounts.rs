//! Accounts: password hashing (argon2id), the SIP digest credentials kept
//! beside the hash, and the `frontdoor user …` subcommands.

use std::io::Read;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::now_ms;
use crate::protocol::{AccountInfo, Role};
use crate::store::{AuditEntry, NewAccount, Store};

/// The SIP digest realm navigators' devices register in.
pub const SIP_REALM: &str = "frontdoor";

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::PasswordHash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash`. A malformed stored hash
/// never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// HA1 of RFC 2617 / RFC 8760 digest auth with MD5: `MD5(user:realm:password)`, hex.
pub fn ha1_md5(username: &str, password: &str) -> String {
    hex(&Md5::digest(
        format!("{username}:{SIP_REALM}:{password}").as_bytes(),
    ))
}

/// HA1 of RFC 8760 digest auth with SHA-256: `SHA-256(user:realm:password)`, hex.
pub fn ha1_sha256(username: &str, password: &str) -> String {
    hex(&Sha256::digest(
        format!("{username}:{SIP_REALM}:{password}").as_bytes(),
    ))
}

/// SHA-256 of a string, hex (session tokens are stored by this hash).
pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// A fresh random token: 32 bytes from the OS, hex.
pub fn new_token() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    Ok(hex(&b))
}

/// `frontdoor user …`: manage navigator, supervisor and ops accounts.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account; its SIP device registers as USERNAME with the same password.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The contact centre the account belongs to (e.g. ottawa).
        #[arg(long)]
        centre: String,
        /// Languages the person takes calls in, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "en")]
        languages: Vec<String>,
        /// Crisis-trained: may take calls from the crisis queue.
        #[arg(long)]
        crisis: bool,
        /// Read the password from the first line of stdin (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Read the phone's SIP secret from the second line of stdin instead
        /// of generating one.
        #[arg(long)]
        sip_secret_stdin: bool,
    },
    /// Give the account's phone a new SIP secret (shown once); the phone
    /// must be set up with it to register again.
    SipSecret {
        #[arg(long)]
        username: String,
        /// Read the SIP secret from the first line of stdin instead of
        /// generating one.
        #[arg(long)]
        sip_secret_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Change an account's password; ends its sessions. The phone's SIP
    /// secret is another (`user sip-secret`).
    Passwd {
        #[arg(long)]
        username: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn read_password(mut stdin: impl Read) -> Result<String> {
    let mut buf = String::new();
    stdin.read_to_string(&mut buf)?;
    first_line_secret(&buf, 0, "password")
}

/// Line `index` of `text` as a secret of at least [`MIN_PASSWORD_LEN`]
/// characters (`what` names it in the error).
fn first_line_secret(text: &str, index: usize, what: &str) -> Result<String> {
    let line = text.lines().nth(index).unwrap_or("").to_string();
    if line.chars().count() < MIN_PASSWORD_LEN {
        let which = if index == 0 { "first" } else { "second" };
        return Err(Error::Invalid(format!(
            "{what} must be at least {MIN_PASSWORD_LEN} characters (read from the {which} line of stdin)"
        )));
    }
    Ok(line)
}

/// A new SIP secret for a phone: 20 characters from an alphabet without
/// look-alikes (about 100 bits), easy to type into a phone's settings.
fn new_sip_secret() -> Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

/// The phone's SIP secret as `user` output shows it, once.
fn shown_once(username: &str, secret: &str) -> String {
    format!(
        "SIP secret for {username}'s phone (shown once; set it in the phone, it is not the password): {secret}\n"
    )
}

fn check_username(u: &str) -> Result<()> {
    let ok = !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "username {u:?}: use 1-64 letters, digits, '.', '_' or '-' (it is also the SIP user name)"
        )))
    }
}

async fn audit_cli(store: &Store, action: &str, target: &str) -> Result<()> {
    store
        .audit(&AuditEntry {
            at_ms: now_ms(),
            actor: "cli".into(),
            action: action.into(),
            target: target.into(),
            outcome: "ok".into(),
            detail: String::new(),
            peer: String::new(),
        })
        .await
}

/// The languages of an account, checked: `en` and/or `fr`, at least one.
fn checked_languages(languages: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for l in languages.iter().map(|l| l.trim().to_ascii_lowercase()) {
        if !matches!(l.as_str(), "en" | "fr") {
            return Err(Error::Invalid(format!("language {l:?}: use en and/or fr")));
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid("languages: at least one of en, fr".into()));
    }
    Ok(out)
}

/// Account changes made from the operations console (`/api/accounts`),
/// checked as the command line checks them; the caller audits them.
pub mod manage {
    use super::*;

    /// A new account with `password`; returns its phone's SIP secret (new,
    /// shown once).
    pub async fn create(store: &Store, info: AccountInfo, password: &str) -> Result<String> {
        check_username(&info.username)?;
        if info.centre.trim().is_empty() {
            return Err(Error::Invalid("centre: empty".into()));
        }
        let languages = checked_languages(&info.languages)?;
        let password = first_line_secret(password, 0, "password")?;
        let secret = new_sip_secret()?;
        let username = info.username.clone();
        let account = NewAccount {
            info: AccountInfo { languages, ..info },
            password_hash: hash_password(&password)?,
            ha1_md5: ha1_md5(&username, &secret),
            ha1_sha256: ha1_sha256(&username, &secret),
        };
        store.insert_account(&account, now_ms()).await?;
        Ok(secret)
    }

    /// A new password; every login of the account ends.
    pub async fn reset_password(store: &Store, username: &str, password: &str) -> Result<()> {
        let password = first_line_secret(password, 0, "password")?;
        let account = store
            .account(username)
            .await?
            .ok_or_else(|| Error::NoSuchAccount(username.into()))?;
        let now = now_ms();
        store
            .set_account_password(
                username,
                &hash_password(&password)?,
                &account.ha1_md5,
                &account.ha1_sha256,
                now,
            )
            .await?;
        store.revoke_sessions_of(username, now).await
    }

    /// A new SIP secret for the account's phone, returned to be shown once.
    pub async fn new_phone_secret(store: &Store, username: &str) -> Result<String> {
        let secret = new_sip_secret()?;
        store
            .set_sip_credentials(
                username,
                &ha1_md5(username, &secret),
                &ha1_sha256(username, &secret),
                now_ms(),
            )
            .await?;
        Ok(secret)
    }

    /// Disables (every login ends; the queues log a navigator out) or
    /// enables an account.
    pub async fn set_disabled(store: &Store, username: &str, disabled: bool) -> Result<()> {
        let now = now_ms();
        store.set_account_disabled(username, disabled, now).await?;
        if disabled {
            store.revoke_sessions_of(username, now).await?;
        }
        Ok(())
    }

    /// What the account takes: centre, languages, crisis training (the
    /// queues read it at the navigator's next login).
    pub async fn set_skills(
        store: &Store,
        username: &str,
        centre: &str,
        languages: &[String],
        crisis_trained: bool,
    ) -> Result<()> {
        if centre.trim().is_empty() {
            return Err(Error::Invalid("centre: empty".into()));
        }
        let languages = checked_languages(languages)?;
        store
            .set_account_skills(username, centre, &languages, crisis_trained, now_ms())
            .await
    }
}

/// Runs a `frontdoor user …` command and returns what to print.
pub async fn run_user_command(store: &Store, cmd: UserCommand, stdin: impl Read) -> Result<String> {
    match cmd {
        UserCommand::Add {
            username,
            role,
            centre,
            languages,
            crisis,
            password_stdin: _,
            sip_secret_stdin,
        } => {
            check_username(&username)?;
            if centre.trim().is_empty() {
                return Err(Error::Invalid("--centre is empty".into()));
            }
            let languages: Vec<String> = languages
                .iter()
                .map(|l| l.trim().to_ascii_lowercase())
                .collect();
            if let Some(bad) = languages
                .iter()
                .find(|l| !matches!(l.as_str(), "en" | "fr"))
            {
                return Err(Error::Invalid(format!(
                    "language {bad:?}: use en and/or fr"
                )));
            }
            let mut input = String::new();
            let mut stdin = stdin;
            stdin.read_to_string(&mut input)?;
            let password = first_line_secret(&input, 0, "password")?;
            // The phone's credentials are not the web password: a leaked
            // digest HA1 (MD5) then gives the password away to no one.
            let secret = if sip_secret_stdin {
                first_line_secret(&input, 1, "the SIP secret")?
            } else {
                new_sip_secret()?
            };
            let account = NewAccount {
                info: AccountInfo {
                    username: username.clone(),
                    role,
                    centre,
                    languages,
                    crisis_trained: crisis,
                },
                password_hash: hash_password(&password)?,
                ha1_md5: ha1_md5(&username, &secret),
                ha1_sha256: ha1_sha256(&username, &secret),
            };
            store.insert_account(&account, now_ms()).await?;
            audit_cli(store, "user.add", &username).await?;
            let mut out = format!(
                "added {} ({}, {})\n",
                username,
                role.as_str(),
                account.info.centre
            );
            if !sip_secret_stdin {
                out.push_str(&shown_once(&username, &secret));
            }
            Ok(out)
        }
        UserCommand::List => {
            let mut out = String::from("USERNAME\tROLE\tCENTRE\tLANGUAGES\tCRISIS\tSTATUS\n");
            for a in store.accounts().await? {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    a.info.username,
                    a.info.role.as_str(),
                    a.info.centre,
                    a.info.languages.join(","),
                    if a.info.crisis_trained { "yes" } else { "no" },
                    if a.disabled { "disabled" } else { "active" },
                ));
            }
            Ok(out)
        }
        UserCommand::Disable { username } => {
            let now = now_ms();
            store.set_account_disabled(&username, true, now).await?;
            store.revoke_sessions_of(&username, now).await?;
            audit_cli(store, "user.disable", &username).await?;
            Ok(format!("disabled {username}\n"))
        }
        UserCommand::Passwd {
            username,
            password_stdin: _,
        } => {
            if store.account(&username).await?.is_none() {
                return Err(Error::NoSuchAccount(username));
            }
            let password = read_password(stdin)?;
            let now = now_ms();
            let account = store
                .account(&username)
                .await?
                .ok_or_else(|| Error::NoSuchAccount(username.clone()))?;
            store
                .set_account_password(
                    &username,
                    &hash_password(&password)?,
                    &account.ha1_md5,
                    &account.ha1_sha256,
                    now,
                )
                .await?;
            store.revoke_sessions_of(&username, now).await?;
            audit_cli(store, "user.passwd", &username).await?;
            Ok(format!("password changed for {username}\n"))
        }
        UserCommand::SipSecret {
            username,
            sip_secret_stdin,
        } => {
            if store.account(&username).await?.is_none() {
                return Err(Error::NoSuchAccount(username));
            }
            let secret = if sip_secret_stdin {
                let mut input = String::new();
                let mut stdin = stdin;
                stdin.read_to_string(&mut input)?;
                first_line_secret(&input, 0, "the SIP secret")?
            } else {
                new_sip_secret()?
            };
            store
                .set_sip_credentials(
                    &username,
                    &ha1_md5(&username, &secret),
                    &ha1_sha256(&username, &secret),
                    now_ms(),
                )
                .await?;
            audit_cli(store, "user.sip-secret", &username).await?;
            let mut out = format!("new SIP secret for {username}\n");
            if !sip_secret_stdin {
                out.push_str(&shown_once(&username, &secret));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_matches_the_digest_definition() {
        // RFC 2617 §3.2.2.2: HA1 = MD5(username ":" realm ":" password).
        assert_eq!(
            ha1_md5("alice", "secret"),
            hex(&Md5::digest(b"alice:frontdoor:secret"))
        );
        assert_eq!(ha1_sha256("alice", "secret").len(), 64);
        assert_eq!(ha1_md5("alice", "secret").len(), 32);
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        user: UserCommand,
    }

    #[test]
    fn user_subcommands_parse_as_documented() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let add = Cli::try_parse_from([
            "user",
            "add",
            "--username",
            "amira",
            "--role",
            "navigator",
            "--centre",
            "ottawa",
            "--languages",
            "en,fr",
            "--crisis",
            "--password-stdin",
        ])
        .unwrap();
        assert_eq!(
            add.user,
            UserCommand::Add {
                username: "amira".into(),
                role: Role::Navigator,
                centre: "ottawa".into(),
                languages: vec!["en".into(), "fr".into()],
                crisis: true,
                password_stdin: true,
                sip_secret_stdin: false,
            }
        );
        let plain = Cli::try_parse_from([
            "user",
            "add",
            "--username",
            "sam",
            "--role",
            "ops",
            "--centre",
            "windsor",
            "--password-stdin",
        ])
        .unwrap();
        assert!(
            matches!(plain.user, UserCommand::Add { ref languages, crisis: false, .. } if languages == &["en"])
        );
        // The password never goes on the command line.
        assert!(
            Cli::try_parse_from([
                "user",
                "add",
                "--username",
                "sam",
                "--role",
                "ops",
                "--centre",
                "windsor"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "user",
                "add",
                "--username",
                "x",
                "--role",
                "boss",
                "--centre",
                "c",
                "--password-stdin"
            ])
            .is_err()
        );
        assert_eq!(
            Cli::try_parse_from(["user", "passwd", "--username", "sam", "--password-stdin"])
                .unwrap()
                .user,
            UserCommand::Passwd {
                username: "sam".into(),
                password_stdin: true
            }
        );
        assert_eq!(
            Cli::try_parse_from(["user", "list"]).unwrap().user,
            UserCommand::List
        );
    }

    #[test]
    fn password_hash_verifies_only_the_right_password() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }
}

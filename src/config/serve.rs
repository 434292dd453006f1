//! `[serve]` and `[[serve.users]]`: where `casebridge serve` offers the
//! console API, over what, and who may use it.
//!
//! Passwords are never in the file, only their argon2 hashes (PHC strings
//! made by `casebridge hash-password`); each user acts as one
//! `[[operators]]` profile. Plain HTTP is refused unless asked for, and
//! then only on a loopback address.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use argon2::password_hash::phc;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::Deserialize;

use super::error::KeyError;
use super::settings::Operator;
use super::validate::{Checked, Checker, dur, listen_addr, reject_unused, required, text};
use super::values::HumanDuration;

/// How long a session lasts without a call (an open event stream counts as
/// use) when `session_idle` is not set.
const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServe {
    pub listen: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub allow_plain_http: Option<bool>,
    pub metrics_public: Option<bool>,
    pub session_idle: Option<HumanDuration>,
    pub users: Option<Vec<RawServeUser>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServeUser {
    pub name: String,
    pub password_hash: String,
    pub operator: String,
}

/// `[serve]`: the console API of `casebridge serve`.
#[derive(Debug, Clone)]
pub struct Serve {
    pub listen: SocketAddr,
    pub transport: Transport,
    /// `/metrics` without credentials (for a scraper on a trusted network).
    pub metrics_public: bool,
    /// A session ends after this long without a call while no event stream
    /// of it is open.
    pub session_idle: Duration,
    /// Names are unique; each operator is a configured `[[operators]]` id.
    pub users: Vec<ServeUser>,
}

/// What the API listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with this certificate chain and key (PEM files).
    Tls { cert: PathBuf, key: PathBuf },
    /// Plain HTTP: only when `allow_plain_http = true`, and only on a
    /// loopback listen address (a local relay or tests).
    PlainLoopback,
}

/// `[[serve.users]]`: who may log in to the API, acting as which operator.
#[derive(Debug, Clone)]
pub struct ServeUser {
    pub name: String,
    pub password_hash: PasswordHash,
    /// The `[[operators]]` id this user writes as.
    pub operator: String,
}

/// An argon2 PHC string, checked at load. It never prints: a hash is
/// material for offline guessing.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(phc::PasswordHash);

impl PasswordHash {
    /// Parses a PHC string; only argon2 hashes with valid parameters pass.
    pub fn parse(phc_string: &str) -> Result<Self, String> {
        let hash = phc::PasswordHash::new(phc_string.trim())
            .map_err(|e| format!("is not a PHC string ({e})"))?;
        argon2::Algorithm::try_from(hash.algorithm.as_str())
            .map_err(|_| format!("is a {} hash, not argon2", hash.algorithm))?;
        argon2::Params::try_from(&hash).map_err(|e| format!("has bad argon2 parameters ({e})"))?;
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err("lacks its salt or its hash".into());
        }
        Ok(PasswordHash(hash))
    }

    /// Whether `password` is the one hashed. Takes as long as the hash's
    /// parameters say (tens of milliseconds): call it off the async threads.
    pub fn verify(&self, password: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), &self.0)
            .is_ok()
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("the password is empty: choose one with at least {MIN_PASSWORD_CHARS} characters")]
    Empty,
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters: choose a longer one")]
    TooShort,
    #[error(
        "argon2 could not hash the password ({0}): check that the system's random source works"
    )]
    Argon2(String),
}

/// The fewest characters a password for `[[serve.users]]` may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The argon2id PHC string of `plain` with a fresh random salt, for a
/// `[[serve.users]]` `password_hash` (what `casebridge hash-password`
/// prints).
pub fn hash_password(plain: &str) -> Result<String, HashError> {
    match plain.chars().count() {
        0 => return Err(HashError::Empty),
        n if n < MIN_PASSWORD_CHARS => return Err(HashError::TooShort),
        _ => {}
    }
    Argon2::default()
        .hash_password(plain.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

impl Checker<'_> {
    pub(super) fn serve(
        &self,
        raw: Option<RawServe>,
        operators: &[Operator],
    ) -> Checked<Option<Serve>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let key = |k: &str| format!("serve.{k}");
        let listen = listen_addr(&key("listen"), raw.listen)?;
        let transport = if raw.allow_plain_http.unwrap_or(false) {
            if !is_loopback(&listen) {
                return Err(KeyError::new(
                    key("allow_plain_http"),
                    format!("plain HTTP is asked for on {listen}, which is not a loopback address"),
                    "Remove allow_plain_http and set serve.tls_cert and serve.tls_key, or listen on 127.0.0.1 or [::1]",
                ));
            }
            let used_with = "HTTPS (remove allow_plain_http)";
            reject_unused(&key("tls_cert"), &raw.tls_cert, used_with)?;
            reject_unused(&key("tls_key"), &raw.tls_key, used_with)?;
            Transport::PlainLoopback
        } else {
            let fix =
                "Add the PEM certificate and key the API serves HTTPS with (tls_cert and tls_key)";
            let cert = required(&key("tls_cert"), raw.tls_cert, fix)?;
            let key_path = required(&key("tls_key"), raw.tls_key, fix)?;
            Transport::Tls {
                cert: self.readable_file(&key("tls_cert"), &cert)?,
                key: self.readable_file(&key("tls_key"), &key_path)?,
            }
        };
        let session_idle = dur(raw.session_idle, DEFAULT_SESSION_IDLE);
        if session_idle < Duration::from_secs(1) {
            return Err(KeyError::new(
                key("session_idle"),
                "is shorter than a second",
                "Use a duration such as \"30m\"",
            ));
        }
        let users = self.serve_users(raw.users.unwrap_or_default(), operators)?;
        Ok(Some(Serve {
            listen,
            transport,
            metrics_public: raw.metrics_public.unwrap_or(false),
            session_idle,
            users,
        }))
    }

    fn serve_users(
        &self,
        raw: Vec<RawServeUser>,
        operators: &[Operator],
    ) -> Checked<Vec<ServeUser>> {
        let mut names = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, u)| {
                let key = |k: &str| format!("serve.users[{i}].{k}");
                let name = text(&key("name"), u.name)?;
                if name.contains(':') || name.chars().any(char::is_control) {
                    return Err(KeyError::new(
                        key("name"),
                        format!("{name:?} contains `:` or a control character"),
                        "Use a plain login name: HTTP Basic separates name and password with `:`",
                    ));
                }
                if !names.insert(name.clone()) {
                    return Err(KeyError::new(
                        key("name"),
                        format!("{name:?} is used by another user"),
                        "Give each [[serve.users]] entry a different name",
                    ));
                }
                let password_hash = PasswordHash::parse(&u.password_hash).map_err(|problem| {
                    KeyError::new(
                        key("password_hash"),
                        problem,
                        "Run `casebridge hash-password` and paste the line it prints (it starts with $argon2id$)",
                    )
                })?;
                let operator = text(&key("operator"), u.operator)?;
                if !operators.iter().any(|o| o.id == operator) {
                    return Err(KeyError::new(
                        key("operator"),
                        format!("{operator:?} is no [[operators]] id"),
                        format!(
                            "Use one of: {}",
                            operators
                                .iter()
                                .map(|o| format!("{:?}", o.id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                Ok(ServeUser {
                    name,
                    password_hash,
                    operator,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        let hash = PasswordHash::parse(&phc).unwrap();
        assert!(hash.verify("correct horse battery"));
        assert!(!hash.verify("correct horse batterz"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(***)");
        assert_ne!(hash_password("correct horse battery").unwrap(), phc);
    }

    #[test]
    fn short_passwords_and_foreign_hashes_are_refused() {
        assert!(matches!(hash_password(""), Err(HashError::Empty)));
        assert!(matches!(hash_password("short"), Err(HashError::TooShort)));
        assert_eq!(
            PasswordHash::parse("plain-text").unwrap_err(),
            "is not a PHC string (password hash string missing field)"
        );
        assert_eq!(
            PasswordHash::parse("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").unwrap_err(),
            "is a pbkdf2-sha256 hash, not argon2"
        );
    }
}

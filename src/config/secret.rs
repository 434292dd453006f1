//! Secrets: never written in the config file, never printed.
//!
//! The file names where a secret lives (`{ env = "NAME" }` or
//! `{ file = "path" }`); loading reads it from there once.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};

use super::error::KeyError;

/// A credential read at load time. `Debug` and `Display` print `Secret(***)`;
/// only [`Secret::expose`] gives the value, so every use of it is greppable.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value obtained elsewhere (tests, the demo's generated keys).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself: for a header or a TLS handshake, never a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares a caller-supplied credential without leaking, through timing,
    /// how much of it matched: both sides are hashed first, so the comparison
    /// takes the same time whatever the lengths.
    pub fn matches(&self, candidate: &str) -> bool {
        let ours = Sha256::digest(self.0.as_bytes());
        let theirs = Sha256::digest(candidate.as_bytes());
        ours.iter()
            .zip(theirs.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret lives, as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretFields {
    env: Option<String>,
    file: Option<PathBuf>,
}

/// A secret's source as written in the file, not yet read.
pub(crate) struct SecretRef(SecretFields);

const INLINE_REFUSED: &str = "a secret is never written in the config file itself. \
     Keep it in an environment variable or a file and write { env = \"NAME\" } or { file = \"path\" }.";

struct SecretRefVisitor;

impl<'de> Visitor<'de> for SecretRefVisitor {
    type Value = SecretRef;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ env = \"NAME\" } or { file = \"path\" }")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SecretRef, A::Error> {
        SecretFields::deserialize(de::value::MapAccessDeserializer::new(map)).map(SecretRef)
    }

    // Every other shape is refused with a message that does not echo the
    // value: serde's default would quote it, and it may be the secret.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretRef, E> {
        Err(E::custom(INLINE_REFUSED))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<SecretRef, A::Error> {
        Err(de::Error::custom(INLINE_REFUSED))
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretRefVisitor)
    }
}

impl SecretRef {
    /// Reads the secret. `key` is the dotted key path for messages; relative
    /// files resolve against `base` (the config file's directory).
    pub(crate) fn resolve(&self, key: &str, base: &Path) -> Result<Secret, KeyError> {
        let value = match (&self.0.env, &self.0.file) {
            (Some(name), None) => Self::from_env(key, name)?,
            (None, Some(file)) => Self::from_file(key, &base.join(file))?,
            _ => {
                return Err(KeyError::new(
                    key,
                    "a secret needs exactly one of `env` and `file`",
                    "Write { env = \"NAME\" } or { file = \"path\" }",
                ));
            }
        };
        if value.is_empty() {
            let source = match (&self.0.env, &self.0.file) {
                (Some(name), _) => format!("environment variable {name}"),
                (_, Some(file)) => format!("file {}", base.join(file).display()),
                _ => String::new(),
            };
            return Err(KeyError::new(
                key,
                format!("the {source} is empty"),
                "Put the credential there",
            ));
        }
        Ok(Secret(value))
    }

    fn from_env(key: &str, name: &str) -> Result<String, KeyError> {
        match std::env::var(name) {
            Ok(value) => Ok(value),
            Err(std::env::VarError::NotPresent) => Err(KeyError::new(
                key,
                format!("environment variable {name} is not set"),
                format!(
                    "Export {name} before starting casebridge, or write {{ file = \"path\" }} instead"
                ),
            )),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::new(
                key,
                format!("environment variable {name} is not valid UTF-8"),
                format!("Set {name} to the credential as plain text"),
            )),
        }
    }

    fn from_file(key: &str, path: &Path) -> Result<String, KeyError> {
        match std::fs::read_to_string(path) {
            // A trailing newline is an artefact of editors and `echo`, not
            // part of the credential.
            Ok(text) => Ok(text.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => Err(KeyError::new(
                key,
                format!("cannot read secret file {}: {e}", path.display()),
                "Check the path (relative paths start at the config file's directory) and that casebridge's user may read it",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn matches_only_the_same_value() {
        let s = Secret::new("token-1");
        assert!(s.matches("token-1"));
        assert!(!s.matches("token-2"));
        assert!(!s.matches("token-1 "));
        assert!(!s.matches(""));
    }
}

//! A remote console's configuration: where `casebridge serve` runs and how
//! to log in to it. A machine that only runs a console needs nothing else
//! (no GSEM or ServiceNow settings), so this is a file of its own, told from
//! a site config by its `[remote]` table:
//!
//! ```toml
//! [remote]
//! url = "https://relay.example.org:8443"
//! user = "alice"
//! password = { env = "CASEBRIDGE_REMOTE_PASSWORD" }
//! ca = "relay-ca.pem"
//!
//! [ui.keys]          # optional, as in the site config
//! ```
//!
//! Without a file, `casebridge --remote URL` takes the rest from
//! [`USER_ENV`], [`PASSWORD_ENV`] and [`CA_ENV`] ([`RemoteSettings::from_flag`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Deserialize;

use super::error::{ConfigError, KeyError};
use super::raw::RawUi;
use super::secret::{Secret, SecretRef};
use super::settings::Ui;
use super::validate::{Checker, base_url};
use crate::gsem::pem::load_ca_bundle;

/// The user name for `--remote`.
pub const USER_ENV: &str = "CASEBRIDGE_REMOTE_USER";
/// The password for `--remote` (the value itself).
pub const PASSWORD_ENV: &str = "CASEBRIDGE_REMOTE_PASSWORD";
/// The CA file for `--remote`.
pub const CA_ENV: &str = "CASEBRIDGE_REMOTE_CA";

const URL_FIX: &str =
    "Write the address of `casebridge serve`, e.g. \"https://relay.example.org:8443\"";
const CA_FIX: &str = "Name the PEM file of the CA that signed serve's certificate";

/// How to reach and log in to a `casebridge serve`, validated.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// serve's origin (and path prefix, behind a proxy), ending in `/`.
    pub url: Url,
    pub user: String,
    pub password: Secret,
    /// The only CA trusted for serve's certificate; `None` only for plain
    /// http to a loopback address, explicitly allowed.
    pub ca: Option<PathBuf>,
    pub ui: Ui,
    pub source: RemoteSource,
}

/// Where [`RemoteSettings`] came from, so that messages name what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// A `[remote]` config file (absolute path).
    File(PathBuf),
    /// `--remote URL` and the `CASEBRIDGE_REMOTE_*` variables.
    Flag,
}

/// The settings of `[remote]` a message can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKey {
    Url,
    User,
    Password,
    Ca,
}

impl RemoteSettings {
    /// `casebridge --remote URL` without a config file: the user, the
    /// password and the CA come from [`USER_ENV`], [`PASSWORD_ENV`] and
    /// [`CA_ENV`]. `allow_insecure_http` admits `http://` to a loopback
    /// address only; `ui` is the key overrides, if any config provides them.
    pub fn from_flag(url: &str, allow_insecure_http: bool, ui: Ui) -> Result<Self, FlagError> {
        from_flag_in(url, allow_insecure_http, ui, |name| std::env::var_os(name))
    }

    /// Where the operator changes `key`, for the fix of a message: the key
    /// in the file, or the flag or variable.
    pub fn where_to_set(&self, key: RemoteKey) -> String {
        match (&self.source, key) {
            (RemoteSource::File(path), key) => {
                let name = match key {
                    RemoteKey::Url => "url",
                    RemoteKey::User => "user",
                    RemoteKey::Password => "password",
                    RemoteKey::Ca => "ca",
                };
                format!("remote.{name} in {}", path.display())
            }
            (RemoteSource::Flag, RemoteKey::Url) => "--remote".to_owned(),
            (RemoteSource::Flag, RemoteKey::User) => format!("${USER_ENV}"),
            (RemoteSource::Flag, RemoteKey::Password) => format!("${PASSWORD_ENV}"),
            (RemoteSource::Flag, RemoteKey::Ca) => format!("${CA_ENV}"),
        }
    }
}

/// Why `--remote` and its environment could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("--remote {value:?}: {problem}. {fix}.")]
    Url {
        value: String,
        problem: String,
        fix: String,
    },
    #[error("${var}: {problem}. {fix}.")]
    Env {
        var: &'static str,
        problem: String,
        fix: String,
    },
}

/// Whether the file at `path` is a remote console's config (it has a
/// `[remote]` table) rather than a site config.
pub fn is_remote_config(path: &Path) -> Result<bool, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, e))?;
    Ok(table(&text, &absolute(path))?.contains_key("remote"))
}

/// Reads and validates a remote console's config file.
pub fn load(path: &Path) -> Result<RemoteSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, e))?;
    load_str(&text, path)
}

/// Validates remote config text as if read from `path` (messages name it,
/// relative paths start at its directory).
pub fn load_str(text: &str, path: &Path) -> Result<RemoteSettings, ConfigError> {
    let file = absolute(path);
    if !table(text, &file)?.contains_key("remote") {
        return Err(KeyError::new(
            "remote",
            "required table is missing: this is not a remote console's config",
            "Add [remote] with url, user, password and ca to run the console against `casebridge serve`, \
             or use this file as the site config (without --remote)",
        )
        .into_config_error(&file));
    }
    let raw: RawRemoteFile = super::parse(text, &file)?;
    build(raw, &file).map_err(|e| e.into_config_error(&file))
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn table(text: &str, file: &Path) -> Result<toml::Table, ConfigError> {
    super::parse(text, file)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteFile {
    remote: RawRemote,
    ui: Option<RawUi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemote {
    url: String,
    allow_insecure_http: Option<bool>,
    user: String,
    password: SecretRef,
    ca: Option<PathBuf>,
}

fn build(raw: RawRemoteFile, file: &Path) -> Result<RemoteSettings, KeyError> {
    let base = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let r = raw.remote;
    let url = base_url(
        "remote.url",
        r.url,
        r.allow_insecure_http.unwrap_or(false),
        URL_FIX,
    )?;
    let user = user(r.user).map_err(|(problem, fix)| KeyError::new("remote.user", problem, fix))?;
    let password = r.password.resolve("remote.password", &base)?;
    let ca = ca(&url, r.ca.map(|p| base.join(p))).map_err(|e| match e {
        CaProblem::Missing => KeyError::new("remote.ca", "required key is missing", CA_FIX),
        CaProblem::Unused => KeyError::new(
            "remote.ca",
            "is set but remote.url is plain http, which uses no certificate",
            "Remove remote.ca, or use an https URL",
        ),
        CaProblem::Bad(why) => KeyError::new("remote.ca", why, CA_FIX),
    })?;
    let ui = Checker { base: &base }.ui(raw.ui)?;
    Ok(RemoteSettings {
        url,
        user,
        password,
        ca,
        ui,
        source: RemoteSource::File(file.to_path_buf()),
    })
}

fn user(value: String) -> Result<String, (String, String)> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.contains(':') {
        return Err((
            format!("{value:?} is not a user name"),
            "Write the name of a [[serve.users]] entry of serve's config (no colon)".to_owned(),
        ));
    }
    Ok(trimmed.to_owned())
}

enum CaProblem {
    Missing,
    Unused,
    Bad(String),
}

/// The CA file, read once here so that a wrong path fails at start-up.
fn ca(url: &Url, path: Option<PathBuf>) -> Result<Option<PathBuf>, CaProblem> {
    match (url.scheme(), path) {
        ("https", None) => Err(CaProblem::Missing),
        ("https", Some(path)) => match load_ca_bundle(&path) {
            Ok(_) => Ok(Some(path)),
            Err(e) => Err(CaProblem::Bad(e.to_string())),
        },
        (_, None) => Ok(None),
        (_, Some(_)) => Err(CaProblem::Unused),
    }
}

fn from_flag_in(
    url: &str,
    allow_insecure_http: bool,
    ui: Ui,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<RemoteSettings, FlagError> {
    let url = base_url("--remote", url.to_owned(), allow_insecure_http, URL_FIX).map_err(|e| {
        FlagError::Url {
            value: url.to_owned(),
            problem: e.problem,
            fix: e.fix,
        }
    })?;
    let var = |name: &'static str, what: &str| -> Result<String, FlagError> {
        match env(name).map(OsString::into_string) {
            Some(Ok(value)) if !value.is_empty() => Ok(value),
            Some(Err(_)) => Err(FlagError::Env {
                var: name,
                problem: "is not valid UTF-8".to_owned(),
                fix: format!("Set it to {what} as plain text"),
            }),
            _ => Err(FlagError::Env {
                var: name,
                problem: "is not set".to_owned(),
                fix: format!(
                    "Export it with {what} for --remote, or write a [remote] config file (config.example.toml shows one)"
                ),
            }),
        }
    };
    let user =
        user(var(USER_ENV, "the serve user name")?).map_err(|(problem, fix)| FlagError::Env {
            var: USER_ENV,
            problem,
            fix,
        })?;
    let password = Secret::new(var(PASSWORD_ENV, "that user's password")?);
    let ca_path = match url.scheme() {
        "https" => Some(PathBuf::from(var(
            CA_ENV,
            "the path of the PEM file of the CA that signed serve's certificate",
        )?)),
        _ => None,
    };
    let ca = ca(&url, ca_path).map_err(|e| FlagError::Env {
        var: CA_ENV,
        problem: match e {
            CaProblem::Bad(why) => why,
            CaProblem::Missing | CaProblem::Unused => "is not usable".to_owned(),
        },
        fix: CA_FIX.to_owned(),
    })?;
    Ok(RemoteSettings {
        url,
        user,
        password,
        ca,
        ui,
        source: RemoteSource::Flag,
    })
}

impl fmt::Display for RemoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteSource::File(path) => write!(f, "{}", path.display()),
            RemoteSource::Flag => f.write_str("--remote"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ca_file(dir: &Path) -> PathBuf {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, cert.pem()).unwrap();
        path
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn flag_takes_user_password_and_ca_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_file(dir.path());
        let ca_text = ca.to_str().unwrap();
        let vars = env(&[
            (USER_ENV, "alice"),
            (PASSWORD_ENV, "s3cret"),
            (CA_ENV, ca_text),
        ]);
        let s = from_flag_in("https://relay.example.org:8443", false, Ui::default(), vars).unwrap();
        assert_eq!(s.url.as_str(), "https://relay.example.org:8443/");
        assert_eq!(s.user, "alice");
        assert_eq!(s.password.expose(), "s3cret");
        assert_eq!(s.ca, Some(ca));
        assert_eq!(s.source, RemoteSource::Flag);
        assert_eq!(
            s.where_to_set(RemoteKey::Password),
            "$CASEBRIDGE_REMOTE_PASSWORD"
        );
    }

    #[test]
    fn flag_names_the_missing_variable() {
        let err = from_flag_in(
            "https://relay.example.org:8443",
            false,
            Ui::default(),
            env(&[(USER_ENV, "alice")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "$CASEBRIDGE_REMOTE_PASSWORD: is not set. Export it with that user's password for --remote, \
             or write a [remote] config file (config.example.toml shows one)."
        );
    }

    #[test]
    fn flag_allows_http_only_to_loopback_and_only_when_asked() {
        let vars = || env(&[(USER_ENV, "alice"), (PASSWORD_ENV, "pw")]);
        let s = from_flag_in("http://127.0.0.1:8080", true, Ui::default(), vars()).unwrap();
        assert_eq!((s.url.as_str(), s.ca), ("http://127.0.0.1:8080/", None));

        let err = from_flag_in("http://127.0.0.1:8080", false, Ui::default(), vars())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "--remote \"http://127.0.0.1:8080\": \"http://127.0.0.1:8080\" is not an https URL."
            ),
            "{err}"
        );
        let err = from_flag_in("http://relay.example.org", true, Ui::default(), vars())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "--remote \"http://relay.example.org\": \"http://relay.example.org\" is plain http to a host \
             that is not loopback. Use https; allow_insecure_http only permits http to 127.0.0.1, ::1 or localhost."
        );
    }
}

//! The configuration file: located, parsed once, validated into [`Settings`].
//!
//! The file is TOML (`config.example.toml` documents every key). It is found
//! by [`locate`]: `--config PATH`, else `$CASEBRIDGE_CONFIG`, else
//! `casebridge/config.toml` in the user's config directory. [`load`] turns
//! it into [`Settings`]: unknown keys, missing keys, bad values and
//! unreadable files fail with a [`ConfigError`] naming the file, the key and
//! the fix. Secrets are read at load time from the environment or a file and
//! kept in [`Secret`], which never prints its value.

mod error;
mod raw;
pub mod remote;
mod secret;
mod serve;
mod settings;
mod validate;
mod values;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use directories::ProjectDirs;
use serde_path_to_error::Segment;

pub use error::{ConfigError, Origin};
pub use secret::Secret;
pub use serve::{
    HashError, MIN_PASSWORD_CHARS, PasswordHash, Serve, ServeUser, Transport, hash_password,
};
pub use settings::*;

use error::KeyError;

/// Environment variable naming the config file when `--config` is absent.
pub const CONFIG_ENV: &str = "CASEBRIDGE_CONFIG";
/// Environment variable that overrides `log.filter`.
pub const LOG_ENV: &str = "CASEBRIDGE_LOG";

/// Defaults of the specs (`gsem.md` §1–§3, `servicenow.md`) and of this project.
mod defaults {
    use std::time::Duration;

    pub const GSEM_CONFIG_PATH: &str = "redfish/v1/gsem";
    pub const GSEM_MESSAGE_PATH: &str = "redfish/v1/message";
    pub const AGENT_KEY_HEADER: &str = "X-Agent-Key";
    pub const GSEM_POLL_INTERVAL: Duration = Duration::from_secs(15);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const GSEM_BACKOFF_START: Duration = Duration::from_secs(1);
    pub const GSEM_BACKOFF_CAP: Duration = Duration::from_secs(30);
    pub const INBOUND_BODY_LIMIT: u64 = 32 * 1024 * 1024;
    pub const WEBHOOK_PATH: &str = "/gsem/message";
    pub const SN_POLL_INTERVAL: Duration = Duration::from_secs(30);
    pub const SN_OVERLAP: Duration = Duration::from_secs(60);
    pub const SN_BACKOFF_START: Duration = Duration::from_secs(1);
    // ServiceNow rate limits are per hour: a longer cap spares the quota
    // while a 429 storm lasts (Retry-After is honoured on top).
    pub const SN_BACKOFF_CAP: Duration = Duration::from_secs(300);
    pub const SN_PAGE_SIZE: u32 = 100;
    pub const SN_INCIDENT_QUERY: &str = "active=true";
    // A cut note ends in a marker of about 55 characters: a shorter limit
    // would leave nothing of the note itself.
    pub const SN_MIN_JOURNAL_LENGTH: usize = 100;
    pub const PUSH_HINT_PATH: &str = "/servicenow/hint";
    pub const MIRROR_TASK_TABLE: &str = "u_hpe_onsite_task";
    pub const MIRROR_PART_TABLE: &str = "u_hpe_part_order";
    pub const OVERDUE_AFTER: Duration = Duration::from_secs(15 * 60);
    pub const RULES_FILE: &str = "update-rules.toml";
    pub const STORE_FILE: &str = "casebridge.db";
    pub const LOG_FILTER: &str = "info";
}

fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", "casebridge")
}

/// `config.toml` in the user's config directory (`~/.config/casebridge/` on
/// Linux), whether or not it exists; `None` when the user has no home.
pub fn default_config_file() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

/// The user's data directory for casebridge (`~/.local/share/casebridge/` on
/// Linux): the store and logs live there unless configured otherwise.
pub fn default_data_dir() -> Option<PathBuf> {
    project_dirs().map(|d| d.data_dir().to_path_buf())
}

/// Finds the config file: `cli` (the `--config` flag), else
/// `$CASEBRIDGE_CONFIG`, else [`default_config_file`].
///
/// A path named by the flag or the variable must exist. `Ok(None)` means
/// nothing was named and the default file does not exist: demo mode.
pub fn locate(cli: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    locate_in(cli, std::env::var_os(CONFIG_ENV), default_config_file())
}

fn locate_in(
    cli: Option<&Path>,
    env: Option<OsString>,
    default: Option<PathBuf>,
) -> Result<Option<PathBuf>, ConfigError> {
    let named = match (cli, env) {
        (Some(path), _) => Some((path.to_path_buf(), Origin::Flag)),
        (None, Some(value)) if !value.is_empty() => Some((PathBuf::from(value), Origin::Env)),
        _ => None,
    };
    match named {
        Some((path, origin)) => match path.try_exists() {
            Ok(true) => Ok(Some(path)),
            Ok(false) => Err(ConfigError::Missing { path, origin }),
            Err(e) => Err(ConfigError::unreadable(&path, e)),
        },
        None => Ok(default.filter(|p| p.is_file())),
    }
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, e))?;
    load_str(&text, path)
}

/// Validates config text as if read from `path`: messages name `path`, and
/// relative paths in the text start at its directory. For tests and for a
/// configuration generated in memory (the demo).
pub fn load_str(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let raw = parse(text, &file)?;
    validate::settings(raw, &file, default_data_dir())
}

fn parse<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| syntax(text, file, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = dotted(e.path());
        describe(key, e.inner().message()).into_config_error(file)
    })
}

fn syntax(text: &str, file: &Path, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let problem = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let fix = if problem.contains("duplicate") {
        "Each key and each [table] may appear once: merge or remove the repeated one"
    } else {
        "Fix the TOML syntax there: strings need quotes, tables are written [name], keys key = value"
    };
    ConfigError::Syntax {
        path: file.to_path_buf(),
        line,
        column,
        problem,
        fix,
    }
}

/// serde's path as a dotted key path, `systems[1].serial` style.
fn dotted(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

fn join_key(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The first backquoted word of a serde message: the field or variant.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// serde's name of an expected type, in the words of a TOML file.
fn plain_type(expected: &str) -> &str {
    match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" => {
            "a whole number (no quotes)"
        }
        "a boolean" => "true or false (no quotes)",
        "a string" => "a string in double quotes",
        "a sequence" => "a list in [ ]",
        e if e.starts_with("struct ") || e == "a map" => "a table",
        e => e,
    }
}

/// Rewords serde's messages into problem + fix; our own visitors' messages
/// (sentences ending in `.`) already carry their fix.
fn describe(key: String, message: &str) -> KeyError {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // serde_path_to_error has already put the unknown key on the path.
        let allowed = match rest.split_once(", expected ") {
            Some((_, list)) => format!(
                "the keys allowed here are {}",
                list.trim_start_matches("one of ")
            ),
            None => "this table takes no keys".to_owned(),
        };
        return KeyError::new(
            key,
            "unknown key",
            format!("Remove it or correct its spelling: {allowed}"),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = quoted(rest).unwrap_or(rest);
        return KeyError::new(
            join_key(&key, field),
            "required key is missing",
            "Add it (config.example.toml shows every key with a comment)",
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let value = quoted(rest).unwrap_or(rest);
        let allowed = rest
            .split_once(", expected ")
            .map_or("", |(_, list)| list)
            .trim_start_matches("one of ");
        return KeyError::new(
            key,
            format!("{value:?} is not an allowed value"),
            format!("Use {allowed}"),
        );
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        return KeyError::new(
            key,
            format!("wrong type: {found}"),
            format!("Write {} here", plain_type(expected)),
        );
    }
    if let Some(sentence) = message.strip_suffix('.') {
        // Our visitors write "<problem>. <fix>."
        let (problem, fix) = sentence
            .split_once(". ")
            .unwrap_or((sentence, "See config.example.toml"));
        return KeyError::new(key, problem, fix);
    }
    KeyError::new(key, message, "See config.example.toml for this key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_env_and_default() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("flag.toml");
        let env = dir.path().join("env.toml");
        let default = dir.path().join("default.toml");
        for p in [&flag, &env, &default] {
            std::fs::write(p, "").unwrap();
        }
        let found = locate_in(Some(&flag), Some(env.clone().into()), Some(default.clone()));
        assert_eq!(found.unwrap(), Some(flag));
        let found = locate_in(None, Some(env.clone().into()), Some(default.clone()));
        assert_eq!(found.unwrap(), Some(env));
        let found = locate_in(None, None, Some(default.clone()));
        assert_eq!(found.unwrap(), Some(default.clone()));
        let found = locate_in(None, Some(OsString::new()), Some(default.clone()));
        assert_eq!(found.unwrap(), Some(default));
    }

    #[test]
    fn missing_default_is_demo_mode_but_missing_named_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent.toml");
        assert_eq!(locate_in(None, None, Some(absent.clone())).unwrap(), None);
        assert_eq!(locate_in(None, None, None).unwrap(), None);

        let err = locate_in(Some(&absent), None, None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: --config: no such file. Check the path, or create the file from config.example.toml.",
                absent.display()
            )
        );
        let err = locate_in(None, Some(absent.clone().into()), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "{}: $CASEBRIDGE_CONFIG: no such file.",
                absent.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn serde_messages_are_reworded_with_a_fix() {
        let e = describe(
            "gsem.bogus".into(),
            "unknown field `bogus`, expected one of `environment`, `dev`, `prod`",
        );
        assert_eq!(e.key, "gsem.bogus");
        assert_eq!(e.problem, "unknown key");
        assert_eq!(
            e.fix,
            "Remove it or correct its spelling: the keys allowed here are `environment`, `dev`, `prod`"
        );
        let e = describe("systems[0]".into(), "missing field `serial`");
        assert_eq!(e.key, "systems[0].serial");
        let e = describe(
            "gsem.dev.mode".into(),
            "unknown variant `pol`, expected `pull` or `push`",
        );
        assert_eq!(e.problem, "\"pol\" is not an allowed value");
        assert_eq!(e.fix, "Use `pull` or `push`");
        let e = describe(
            "sync.overdue_after".into(),
            "\"x\" is not a duration. Write a number.",
        );
        assert_eq!(
            (e.problem.as_str(), e.fix.as_str()),
            ("\"x\" is not a duration", "Write a number")
        );
    }
}

//! Who else may read the files casebridge keeps secrets in: the private
//! keys (a failure when others may read them), the config and the secret
//! files it names (a warning).

use std::path::{Path, PathBuf};

use super::{Check, Status};
use crate::config::{Delivery, Settings};

/// One line per file: the config, each private key, each secret file.
pub(super) fn permissions(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let config_file = &settings.paths().config_file;
    if config_file.is_file() {
        checks.push(access(
            "config permissions",
            config_file,
            None,
            Status::Warn,
        ));
    }
    let gsem = &settings.gsem;
    let mut keys = vec![gsem.client_key.clone()];
    if let Delivery::Push(webhook) = &gsem.delivery
        && webhook.tls_key != gsem.client_key
    {
        keys.push(webhook.tls_key.clone());
    }
    for key in &keys {
        checks.push(access("key permissions", key, None, Status::Fail));
    }
    // The settings hold secrets' values only; where they came from is in
    // the file itself.
    let text = std::fs::read_to_string(config_file).unwrap_or_default();
    for (key, path) in secret_files(&text, &settings.paths().config_dir) {
        checks.push(access(
            "secret permissions",
            &path,
            Some(&key),
            Status::Warn,
        ));
    }
    checks
}

/// The `{ file = "path" }` secrets of a config text, with their dotted keys,
/// resolved against `base`. Files that do not exist are left out: they
/// belong to a table that is not in use (the other GSEM environment), since
/// loading has read every secret in use.
pub(super) fn secret_files(text: &str, base: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        for (key, value) in &table {
            collect(value, key, base, &mut found);
        }
    }
    found.retain(|(_, path)| path.is_file());
    found.sort();
    found
}

fn collect(value: &toml::Value, key: &str, base: &Path, found: &mut Vec<(String, PathBuf)>) {
    match value {
        toml::Value::Table(table) => {
            if table.len() == 1
                && let Some(toml::Value::String(file)) = table.get("file")
            {
                found.push((key.to_owned(), base.join(file)));
                return;
            }
            for (child, value) in table {
                collect(value, &format!("{key}.{child}"), base, found);
            }
        }
        toml::Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                collect(value, &format!("{key}[{i}]"), base, found);
            }
        }
        _ => {}
    }
}

/// Whether users other than the owner and group may read or write `path`;
/// `severity` is the status when they may.
fn access(name: &'static str, path: &Path, key: Option<&str>, severity: Status) -> Check {
    let what = match key {
        Some(key) => format!("{} ({key})", path.display()),
        None => path.display().to_string(),
    };
    let mode = match file_mode(path) {
        Ok(Some(mode)) => mode & 0o7777,
        Ok(None) => {
            return Check::skip(
                name,
                format!("{what}: permissions are checked on Unix only"),
            );
        }
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot inspect {what}: {e}"),
                "Check the path and that casebridge's user may read it",
            );
        }
    };
    let others = match (mode & 0o004 != 0, mode & 0o002 != 0) {
        (true, true) => Some("readable and writable"),
        (true, false) => Some("readable"),
        (false, true) => Some("writable"),
        (false, false) => None,
    };
    match others {
        None => Check::ok(
            name,
            format!("{what} is not readable by others (mode {mode:04o})"),
        ),
        Some(how) => {
            let message = format!("{what} is {how} by others (mode {mode:04o})");
            let fix = format!("chmod 600 {}", shell_word(path));
            if severity == Status::Fail {
                Check::fail(name, message, fix)
            } else {
                Check::warn(name, message, fix)
            }
        }
    }
}

fn file_mode(path: &Path) -> std::io::Result<Option<u32>> {
    let metadata = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(Some(metadata.permissions().mode()))
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Ok(None)
    }
}

/// `path` as one word of a shell command, quoted only when it must be.
pub(super) fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_found_by_their_shape_and_kept_only_when_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/agent"), "k").unwrap();
        std::fs::write(dir.path().join("pw"), "p").unwrap();
        let text = r#"
            [gsem.prod]
            agent_key = { file = "secrets/agent" }
            client_cert = "certs/x.pem"
            [gsem.dev]
            agent_key = { file = "secrets/absent" }
            [servicenow]
            password = { file = "pw" }
            client_secret = { env = "X" }
            [[operators]]
            token = { file = "pw" }
        "#;
        let found = secret_files(text, dir.path());
        assert_eq!(
            found,
            vec![
                (
                    "gsem.prod.agent_key".to_owned(),
                    dir.path().join("secrets/agent")
                ),
                ("operators[0].token".to_owned(), dir.path().join("pw")),
                ("servicenow.password".to_owned(), dir.path().join("pw")),
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn modes_are_judged_by_what_others_may_do() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client.key");
        std::fs::write(&key, "x").unwrap();
        let set = |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode));
        set(0o644).unwrap();
        let check = access("key permissions", &key, None, Status::Fail);
        assert_eq!(
            check.to_string(),
            format!(
                "FAIL key permissions: {0} is readable by others (mode 0644). Fix: chmod 600 {0}",
                key.display()
            )
        );
        set(0o640).unwrap();
        let check = access("key permissions", &key, None, Status::Fail);
        assert_eq!(check.status, Status::Ok);
        assert_eq!(
            check.message,
            format!("{} is not readable by others (mode 0640)", key.display())
        );
        set(0o602).unwrap();
        let check = access(
            "secret permissions",
            &key,
            Some("servicenow.password"),
            Status::Warn,
        );
        assert_eq!(check.status, Status::Warn);
        assert_eq!(
            check.message,
            format!(
                "{} (servicenow.password) is writable by others (mode 0602)",
                key.display()
            )
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(
            shell_word(Path::new("/etc/cb/client.key")),
            "/etc/cb/client.key"
        );
        assert_eq!(
            shell_word(Path::new("/my keys/it's.key")),
            r"'/my keys/it'\''s.key'"
        );
    }
}

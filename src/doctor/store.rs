//! The store, inspected without changing it: integrity and schema version
//! on a read-only connection, the engine lock's holder, then the outbox and
//! the quarantine through the store itself (which may run beside an engine).

use std::fs::{File, TryLockError};
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::Check;
use crate::store::prelude::*;
use crate::store::{QuarantineState, Role, SCHEMA_VERSION, Store};

/// Lines `store`, `store lock`, `outbox` and `quarantine`.
pub(super) fn checks(path: &Path) -> Vec<Check> {
    if !path.exists() {
        return vec![Check::ok(
            "store",
            format!(
                "{} does not exist yet: the engine creates it on its first start",
                path.display()
            ),
        )];
    }
    let mut checks = vec![lock_holder(path)];
    let version = match inspect(path) {
        Ok(version) => version,
        Err(check) => {
            checks.insert(0, check);
            return checks;
        }
    };
    checks.insert(
        0,
        if version > SCHEMA_VERSION {
            Check::fail(
                "store",
                format!(
                    "{}: schema version {version}, but this casebridge knows only up to {SCHEMA_VERSION}: a newer casebridge wrote it",
                    path.display()
                ),
                "Upgrade casebridge to the version that wrote the store",
            )
        } else if version < SCHEMA_VERSION {
            Check::ok(
                "store",
                format!(
                    "{}: integrity ok, schema version {version}; the engine migrates it to {SCHEMA_VERSION} on its next start",
                    path.display()
                ),
            )
        } else {
            Check::ok(
                "store",
                format!(
                    "{}: integrity ok, schema version {version}",
                    path.display()
                ),
            )
        },
    );
    if version != SCHEMA_VERSION {
        // Opening the store would migrate it: leave that to the engine.
        checks.push(Check::skip(
            "outbox",
            format!("not read: the store is not at schema version {SCHEMA_VERSION}"),
        ));
        return checks;
    }
    checks.extend(queues(path));
    checks
}

/// `PRAGMA integrity_check` and `user_version` on a read-only connection.
fn inspect(path: &Path) -> Result<u32, Check> {
    let broken = |what: String| {
        Check::fail(
            "store",
            what,
            format!(
                "Stop the engine, keep a copy of {0} and its -wal file, and restore a backup (or salvage it with `sqlite3 {0} .recover`)",
                path.display()
            ),
        )
    };
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|e| {
            Check::fail(
                "store",
                format!("cannot open {}: {e}", path.display()),
                "Check store.path and that casebridge's user may read the file and its directory",
            )
        })?;
    let problems = conn
        .prepare("PRAGMA integrity_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| {
            broken(format!(
                "{}: the integrity check failed: {e}",
                path.display()
            ))
        })?;
    if problems != ["ok"] {
        return Err(broken(format!(
            "{} is damaged: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| {
            broken(format!(
                "{}: cannot read the schema version: {e}",
                path.display()
            ))
        })
}

/// The sidecar lock file the engine holds (`<db>.lock`).
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Who holds the engine lock. A shared lock is tried and let go at once:
/// it fails while an engine holds its exclusive one, and never takes the
/// lock away from an engine.
fn lock_holder(db: &Path) -> Check {
    let path = lock_path(db);
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::ok("store lock", "no engine has used the store yet");
        }
        Err(e) => {
            return Check::warn(
                "store lock",
                format!("cannot read {}: {e}", path.display()),
                "Make it readable by casebridge's user",
            );
        }
    };
    match file.try_lock_shared() {
        Ok(()) => Check::ok("store lock", "free: no engine is running on this store"),
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let holder = match file.read_to_string(&mut holder) {
                Ok(_) if !holder.trim().is_empty() => holder.trim().to_owned(),
                _ => "an unknown process".to_owned(),
            };
            Check::ok("store lock", format!("held by the engine, {holder}"))
        }
        Err(TryLockError::Error(e)) => Check::warn(
            "store lock",
            format!("cannot test the lock on {}: {e}", path.display()),
            "Put the store on a local file system, which supports file locks",
        ),
    }
}

/// The outbox and the quarantine, through the store.
fn queues(path: &Path) -> Vec<Check> {
    let store = match Store::open(path, Role::Tool) {
        Ok(store) => store,
        Err(e) => {
            return vec![Check::fail(
                "outbox",
                e.to_string(),
                "Fix the store as the message says",
            )];
        }
    };
    let now = chrono::Utc::now().timestamp_millis();
    let outbox = match store.outbox_stats(now) {
        Ok(stats) if stats.parked > 0 => Check::warn(
            "outbox",
            format!(
                "{} message(s) parked after GSEM refused them, holding back later messages of their cases; {} queued",
                stats.parked, stats.queued
            ),
            "Open the console's outbox, then retry (after fixing) or drop each parked message",
        ),
        Ok(stats) => Check::ok(
            "outbox",
            match stats.oldest_queued_age_ms {
                Some(age) if stats.queued > 0 => format!(
                    "{} message(s) queued, the oldest for {} s; none parked",
                    stats.queued,
                    age / 1000
                ),
                _ => "empty".to_owned(),
            },
        ),
        Err(e) => Check::fail("outbox", e.to_string(), "Fix the store as the message says"),
    };
    let quarantine = match store.quarantine_list(QuarantineState::Open) {
        Ok(open) if !open.is_empty() => Check::warn(
            "quarantine",
            format!(
                "{} message(s) from GSEM could not be used and wait for the operator",
                open.len()
            ),
            "Review them in the console's quarantine: replay or discard each",
        ),
        Ok(_) => Check::ok("quarantine", "nothing waits for the operator"),
        Err(e) => Check::fail(
            "quarantine",
            e.to_string(),
            "Fix the store as the message says",
        ),
    };
    vec![outbox, quarantine]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewQuarantine;

    #[test]
    fn a_missing_store_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("casebridge.db");
        let checks = checks(&db);
        assert_eq!(checks.len(), 1);
        assert_eq!(
            checks[0].to_string(),
            format!(
                "ok   store: {} does not exist yet: the engine creates it on its first start",
                db.display()
            )
        );
    }

    #[test]
    fn a_healthy_store_reports_each_part_and_names_the_lock_holder() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("casebridge.db");
        let engine = Store::open(&db, Role::Engine { demo: false }).unwrap();
        let lines: Vec<String> = checks(&db).iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(
            lines[0],
            format!(
                "ok   store: {}: integrity ok, schema version {SCHEMA_VERSION}",
                db.display()
            )
        );
        assert!(
            lines[1].starts_with(&format!(
                "ok   store lock: held by the engine, pid {} (",
                std::process::id()
            )),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "ok   outbox: empty");
        assert_eq!(lines[3], "ok   quarantine: nothing waits for the operator");

        engine
            .quarantine_insert(&NewQuarantine::whole(b"{not json", "not JSON", None), 1)
            .unwrap();
        drop(engine);
        let lines: Vec<String> = checks(&db).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines[1],
            "ok   store lock: free: no engine is running on this store"
        );
        assert_eq!(
            lines[3],
            "warn quarantine: 1 message(s) from GSEM could not be used and wait for the operator. Fix: Review them in the console's quarantine: replay or discard each"
        );
    }

    #[test]
    fn damage_and_newer_schemas_fail() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("casebridge.db");
        drop(Store::open(&db, Role::Tool).unwrap());
        {
            let conn = Connection::open(&db).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let first = &checks(&db)[0];
        assert_eq!(first.status, super::super::Status::Fail);
        assert!(
            first.message.ends_with(&format!(
                "schema version {}, but this casebridge knows only up to {SCHEMA_VERSION}: a newer casebridge wrote it",
                SCHEMA_VERSION + 1
            )),
            "{first}"
        );

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let first = &checks(&junk)[0];
        assert_eq!(first.status, super::super::Status::Fail);
        assert!(
            first.fix.as_deref().unwrap().contains(".recover"),
            "{first}"
        );
    }
}

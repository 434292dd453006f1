#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store against real SQLite files: migrations, locking, identities,
//! dedupe keys, outbox order, task and part timelines.

use std::path::{Path, PathBuf};

use casebridge::store::prelude::*;
use casebridge::store::{
    CaseFilter, IncidentChange, IncidentRow, Insert, JournalPosition, JournalState,
    NOT_UNDERSTOOD_KIND, NewCase, NewJournal, NewQuarantine, NewSystem, Origin, OutboxState,
    OutboxStats, PartUpdate, QuarantineState, Role, SCHEMA_VERSION, Store, StoreError, TaskUpdate,
    Via, create_at_version,
};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("casebridge.sqlite3")
}

fn tool(path: &Path) -> Store {
    Store::open(path, Role::Tool).unwrap()
}

fn new_case(incident: &str) -> NewCase {
    NewCase {
        incident_number: incident.to_owned(),
        severity: "MAJOR".to_owned(),
        title: "Disk failure".to_owned(),
        description: "Drive bay 3 reports predictive failure".to_owned(),
        system_id: None,
        opened_by: "alice".to_owned(),
    }
}

fn note(case_id: i64, origin: Origin, remote_id: Option<&str>, text: &str) -> NewJournal {
    NewJournal {
        case_id,
        origin,
        kind: "note".to_owned(),
        author: "hpe".to_owned(),
        text: text.to_owned(),
        event_at: T0,
        remote_id: remote_id.map(str::to_owned),
        state: JournalState::Received,
        outbox_seq: None,
    }
}

fn user_version(path: &Path) -> u32 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

// ---- migrations -----------------------------------------------------------

#[test]
fn open_creates_the_store_and_its_directory_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = tool(&path);
    assert_eq!(store.path(), path.as_path());
    assert!(!store.is_demo());
    drop(store);
    assert!(path.is_file());
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn every_connection_gets_the_pragmas() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    // foreign_keys=ON: a case for a system that does not exist is refused.
    let mut case = new_case("INC0001");
    case.system_id = Some(999);
    let err = store.create_case(&case, T0).unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY constraint failed"),
        "{err}"
    );
}

#[test]
fn reopening_keeps_rows_and_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let id = tool(&path)
        .create_case(&new_case("INC0001"), T0)
        .unwrap()
        .id;
    for _ in 0..3 {
        let store = tool(&path);
        assert_eq!(
            store.case_by_id(id).unwrap().unwrap().tracking_number,
            "INC0001_1"
        );
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn a_store_written_by_the_previous_schema_version_is_upgraded_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    create_at_version(&path, 1).unwrap();
    assert_eq!(user_version(&path), 1);
    {
        // Rows as casebridge at schema 1 wrote them.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "INSERT INTO cases(id, incident_number, seq, tracking_number, requester_id, state,
                 severity, title, description, opened_by, created_at, updated_at)
             VALUES (7, 'INC0042', 1, 'INC0042_1', 'INC0042', 5, 'MAJOR', 'Fan', 'Fan noise',
                 'bob', 1000, 1000);
             INSERT INTO journal(case_id, origin, kind, author, text, event_at, remote_id,
                 state, created_at)
             VALUES (7, 'hpe', 'note', 'hpe', 'Engineer booked', 1100, 'msg-1', 'received', 1100);
             INSERT INTO outbox(case_id, transaction_name, body, state, next_attempt_at,
                 created_at)
             VALUES (7, 'PROVIDE PROBLEM INFORMATION', '{}', 'queued', 1200, 1200);",
        )
        .unwrap();
        assert!(
            conn.prepare("SELECT 1 FROM onsite_tasks").is_err(),
            "schema 1 has no onsite_tasks"
        );
    }

    let store = tool(&path);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let case = store.case_by_id(7).unwrap().unwrap();
    assert_eq!(case.tracking_number, "INC0042_1");
    assert_eq!(case.state, 5);
    let journal = store.journal_for_case(7).unwrap();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].entry.text, "Engineer booked");
    let head = store.outbox_head().unwrap().unwrap();
    assert_eq!(head.case_id, 7);
    assert_eq!(head.transaction_name, "PROVIDE PROBLEM INFORMATION");

    // The numbering carries on, and the tables of migration 2 work.
    assert_eq!(
        store
            .create_case(&new_case("INC0042"), T0)
            .unwrap()
            .tracking_number,
        "INC0042_2"
    );
    let task = TaskUpdate {
        task_id: "WO-1".to_owned(),
        status: Some("scheduled".to_owned()),
        status_known: true,
        event_time: Some("2026-01-01 10:00:00".to_owned()),
        event_at_ms: Some(T0),
        ..TaskUpdate::default()
    };
    let outcome = store.record_task_event(7, &task, T0).unwrap();
    assert_eq!(outcome.status.as_deref(), Some("scheduled"));
    store
        .audit_append("engine", Some(7), "upgrade", "schema 1 to 2", T0)
        .unwrap();
    assert_eq!(store.audit_for_case(7).unwrap()[0].action, "upgrade");
}

#[test]
fn a_store_from_a_newer_casebridge_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    tool(&path).create_case(&new_case("INC0001"), T0).unwrap();
    let newer = SCHEMA_VERSION + 3;
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", newer).unwrap();
        // Back to a rollback journal, so any pragma we wrongly wrote would show.
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let before = std::fs::read(&path).unwrap();

    for role in [Role::Tool, Role::Engine { demo: false }] {
        match Store::open(&path, role) {
            Err(StoreError::TooNew {
                path: p,
                found,
                supported,
            }) => {
                assert_eq!(p, path);
                assert_eq!(found, newer);
                assert_eq!(supported, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }
    let err = Store::open(&path, Role::Tool).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("newer casebridge"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(user_version(&path), newer);
}

// ---- one engine per store ---------------------------------------------------

#[test]
fn a_second_engine_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let engine = Store::open(&path, Role::Engine { demo: false }).unwrap();

    let err = Store::open(&path, Role::Engine { demo: false }).unwrap_err();
    match &err {
        StoreError::Locked { path: p, holder } => {
            assert_eq!(p, &path);
            assert!(
                holder.starts_with(&format!("pid {} (", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains(", since 20"), "{holder}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("Stop that process"), "{message}");
    assert!(message.contains("CLI"), "{message}");

    // A demo engine is refused by the lock as well, before anything else.
    assert!(matches!(
        Store::open(&path, Role::Engine { demo: true }),
        Err(StoreError::Locked { .. })
    ));
    drop(engine);
}

#[test]
fn tools_work_beside_the_engine_and_the_lock_frees_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let engine = Store::open(&path, Role::Engine { demo: false }).unwrap();
    let cli = tool(&path);
    let case = cli.create_case(&new_case("INC0009"), T0).unwrap();
    assert_eq!(
        engine.case_by_id(case.id).unwrap().unwrap().tracking_number,
        "INC0009_1"
    );
    assert!(Store::open(&path, Role::Engine { demo: false }).is_err());

    drop(engine);
    let again = Store::open(&path, Role::Engine { demo: false }).unwrap();
    assert_eq!(again.list_cases(&CaseFilter::default()).unwrap().len(), 1);
    drop(again);
    // The lock file stays behind; only the OS lock counts.
    let mut lock = path.clone().into_os_string();
    lock.push(".lock");
    assert!(Path::new(&lock).is_file());
    Store::open(&path, Role::Engine { demo: false }).unwrap();
}

/// Another process holding the lock (util-linux `flock`, the same flock(2)
/// lock std uses on Linux) refuses our engine; killing it with SIGKILL frees
/// the lock with nothing to clean up.
#[cfg(target_os = "linux")]
#[test]
fn a_lock_held_by_a_killed_process_is_not_stale() {
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(Store::open(&path, Role::Engine { demo: false }).unwrap());
    let mut lock = path.clone().into_os_string();
    lock.push(".lock");
    let mut child = std::process::Command::new("flock")
        .args(["--exclusive", "--no-fork"])
        .arg(&lock)
        .args(["sleep", "60"])
        .spawn()
        .expect("util-linux flock");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(&path, Role::Engine { demo: false }) {
            Err(StoreError::Locked { .. }) => break,
            Ok(store) => drop(store),
            Err(other) => panic!("unexpected {other}"),
        }
        assert!(Instant::now() < deadline, "flock never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // `--no-fork`: the killed process was the only holder.
    Store::open(&path, Role::Engine { demo: false }).unwrap();
}

#[test]
fn demo_and_real_stores_are_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    let demo_path = dir.path().join("demo.sqlite3");
    let real_path = dir.path().join("real.sqlite3");

    let demo = Store::open(&demo_path, Role::Engine { demo: true }).unwrap();
    assert!(demo.is_demo());
    drop(demo);
    match Store::open(&demo_path, Role::Engine { demo: false }) {
        Err(
            err @ StoreError::DemoMismatch {
                store_is_demo: true,
                ..
            },
        ) => {
            let message = err.to_string();
            assert!(message.contains("was made by the demo"), "{message}");
            assert!(message.contains("point store.path elsewhere"), "{message}");
        }
        other => panic!("expected DemoMismatch, got {other:?}"),
    }
    // Tools may look at a demo store; the demo engine reopens it.
    assert!(tool(&demo_path).is_demo());
    Store::open(&demo_path, Role::Engine { demo: true }).unwrap();

    drop(Store::open(&real_path, Role::Engine { demo: false }).unwrap());
    assert!(matches!(
        Store::open(&real_path, Role::Engine { demo: true }),
        Err(StoreError::DemoMismatch {
            store_is_demo: false,
            ..
        })
    ));
    assert!(
        !Store::open(&real_path, Role::Engine { demo: false })
            .unwrap()
            .is_demo()
    );
}

// ---- identities -------------------------------------------------------------

#[test]
fn tracking_numbers_count_per_incident_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let first = tool(&path).create_case(&new_case("INC0001"), T0).unwrap();
    assert_eq!(
        (first.seq, first.tracking_number.as_str()),
        (1, "INC0001_1")
    );
    assert_eq!(first.state, 0);
    assert_eq!(first.created_at, T0);

    let store = tool(&path);
    let second = store.create_case(&new_case("INC0001"), T0 + 1).unwrap();
    assert_eq!(second.tracking_number, "INC0001_2");
    let other = store.create_case(&new_case("INC0002"), T0 + 2).unwrap();
    assert_eq!(other.tracking_number, "INC0002_1");
    let of_one = store
        .list_cases(&CaseFilter {
            incident_number: Some("INC0001".to_owned()),
            ..CaseFilter::default()
        })
        .unwrap();
    let numbers: Vec<_> = of_one.iter().map(|c| c.tracking_number.as_str()).collect();
    assert_eq!(numbers, ["INC0001_1", "INC0001_2"]);
}

#[test]
fn cases_read_a_page_at_a_time_are_every_case_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    for i in 0..7 {
        store
            .create_case(&new_case(&format!("INC{:04}", i % 3)), T0 + i)
            .unwrap();
    }
    let all: Vec<i64> = store
        .list_cases(&CaseFilter::default())
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .list_cases_page(&CaseFilter::default(), after, Some(3))
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = last.id;
        paged.extend(page.iter().map(|c| c.id));
    }
    assert_eq!(paged, all);
    assert_eq!(all.len(), 7);
    // The filter still applies within a page.
    let of_one = store
        .list_cases_page(
            &CaseFilter {
                incident_number: Some("INC0001".to_owned()),
                ..CaseFilter::default()
            },
            0,
            Some(1),
        )
        .unwrap();
    assert_eq!(of_one.len(), 1);
    assert_eq!(of_one[0].incident_number, "INC0001");
}

#[test]
fn concurrent_connections_get_distinct_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(tool(&path));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = tool(&path);
                (0..25)
                    .map(|i| store.create_case(&new_case("INC0100"), T0 + i).unwrap().seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<i64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
}

#[test]
fn requester_id_is_the_incident_number_unless_an_unfinished_case_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let one = store.create_case(&new_case("INC0001"), T0).unwrap();
    assert_eq!(one.requester_id, "INC0001");
    let two = store.create_case(&new_case("INC0001"), T0).unwrap();
    assert_eq!(two.requester_id, "INC0001_2");

    store.set_case_state(one.id, 7, T0 + 5).unwrap();
    let three = store.create_case(&new_case("INC0001"), T0).unwrap();
    assert_eq!(three.requester_id, "INC0001");
    assert_eq!(three.tracking_number, "INC0001_3");

    // Two unfinished cases cannot share a RequesterID: reopening one fails.
    let err = store.set_case_state(one.id, 5, T0 + 6).unwrap_err();
    assert!(
        err.to_string().contains("UNIQUE constraint failed"),
        "{err}"
    );
    let one = store.case_by_id(one.id).unwrap().unwrap();
    assert_eq!((one.state, one.updated_at), (7, T0 + 5));

    let unfinished = store
        .list_cases(&CaseFilter {
            unfinished_only: true,
            ..CaseFilter::default()
        })
        .unwrap();
    let ids: Vec<_> = unfinished.iter().map(|c| c.id).collect();
    assert_eq!(ids, [two.id, three.id]);
}

#[test]
fn provider_ids_are_unique_and_matching_finds_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let one = store.create_case(&new_case("INC0001"), T0).unwrap();
    let two = store.create_case(&new_case("INC0002"), T0).unwrap();

    assert_eq!(
        store
            .unfinished_case_by_requester_id_without_provider("INC0001")
            .unwrap()
            .map(|c| c.id),
        Some(one.id)
    );
    store
        .set_case_provider_id(one.id, "5312345678", T0 + 1)
        .unwrap();
    assert_eq!(
        store
            .unfinished_case_by_requester_id_without_provider("INC0001")
            .unwrap(),
        None
    );
    let found = store.case_by_provider_id("5312345678").unwrap().unwrap();
    assert_eq!((found.id, found.updated_at), (one.id, T0 + 1));
    // Setting the same number again on the same case is fine.
    store
        .set_case_provider_id(one.id, "5312345678", T0 + 2)
        .unwrap();

    match store.set_case_provider_id(two.id, "5312345678", T0 + 3) {
        Err(StoreError::ProviderIdInUse {
            provider_id,
            tracking_number,
        }) => {
            assert_eq!(provider_id, "5312345678");
            assert_eq!(tracking_number, "INC0001_1");
        }
        other => panic!("expected ProviderIdInUse, got {other:?}"),
    }
    assert_eq!(store.case_by_id(two.id).unwrap().unwrap().provider_id, None);
    assert!(matches!(
        store.set_case_provider_id(999, "1", T0),
        Err(StoreError::NotFound { what: "case", .. })
    ));

    store
        .set_case_hpe_status(one.id, Some("Engineer assigned"), None, T0 + 4)
        .unwrap();
    store
        .set_case_hpe_status(one.id, None, Some("2"), T0 + 5)
        .unwrap();
    let one = store.case_by_id(one.id).unwrap().unwrap();
    assert_eq!(one.workflow_status.as_deref(), Some("Engineer assigned"));
    assert_eq!(one.provider_priority.as_deref(), Some("2"));
}

#[test]
fn systems_and_incidents_are_upserted() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let mut system = NewSystem {
        name: "db01".to_owned(),
        serial: "CZ1234ABCD".to_owned(),
        contract: Some("2155240525".to_owned()),
        product_number: Some("P52534-B21".to_owned()),
        cmdb_ci: None,
    };
    let id = store.upsert_system(&system).unwrap();
    system.contract = Some("999".to_owned());
    assert_eq!(store.upsert_system(&system).unwrap(), id);
    let row = store.system_by_serial("CZ1234ABCD").unwrap().unwrap();
    assert_eq!((row.id, row.system.contract.as_deref()), (id, Some("999")));
    assert_eq!(store.list_systems().unwrap().len(), 1);

    let mut incident = IncidentRow {
        sys_id: "a1b2".to_owned(),
        number: "INC0001".to_owned(),
        short_description: "Disk".to_owned(),
        description: "Disk failed".to_owned(),
        state: "2".to_owned(),
        priority: "3".to_owned(),
        cmdb_ci: None,
        sys_mod_count: 4,
        sys_updated_on: "2026-01-01 00:00:00".to_owned(),
        raw_json: "{}".to_owned(),
        seen_at: 0,
    };
    assert_eq!(
        store.upsert_incident(&incident, T0).unwrap(),
        IncidentChange::Inserted
    );
    assert_eq!(
        store.upsert_incident(&incident, T0 + 1).unwrap(),
        IncidentChange::Unchanged
    );
    incident.sys_mod_count = 3;
    incident.state = "1".to_owned();
    assert_eq!(
        store.upsert_incident(&incident, T0 + 2).unwrap(),
        IncidentChange::Unchanged
    );
    incident.sys_mod_count = 5;
    incident.state = "6".to_owned();
    assert_eq!(
        store.upsert_incident(&incident, T0 + 3).unwrap(),
        IncidentChange::Updated
    );
    let stored = store.incident_by_number("INC0001").unwrap().unwrap();
    assert_eq!(
        (stored.state.as_str(), stored.sys_mod_count, stored.seen_at),
        ("6", 5, T0 + 3)
    );
}

// ---- journal, inbox, quarantine ----------------------------------------------

#[test]
fn journal_entries_are_unique_per_origin_and_remote_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();
    let text = "quote \" backslash \\ crlf \r\n tab \t emoji 🛠️ rtl \u{202e}abc NUL \0 end";

    let first = store
        .journal_insert(&note(case.id, Origin::Hpe, Some("m-1"), text), T0)
        .unwrap();
    assert!(first.is_inserted());
    let again = store
        .journal_insert(&note(case.id, Origin::Hpe, Some("m-1"), "other"), T0 + 1)
        .unwrap();
    assert_eq!(again, Insert::Duplicate(first.id()));
    // Same remote id from another origin is another entry.
    let sn = store
        .journal_insert(&note(case.id, Origin::ServiceNow, Some("m-1"), "sn"), T0)
        .unwrap();
    assert!(sn.is_inserted());
    // Entries without a remote id never collide.
    for _ in 0..2 {
        assert!(
            store
                .journal_insert(&note(case.id, Origin::Local, None, "local"), T0)
                .unwrap()
                .is_inserted()
        );
    }
    let journal = store.journal_for_case(case.id).unwrap();
    assert_eq!(journal.len(), 4);
    assert_eq!(journal[0].entry.text, text);
    assert_eq!(journal[0].entry.origin, Origin::Hpe);
    assert_eq!(
        store
            .journal_by_remote_id(Origin::Hpe, "m-1")
            .unwrap()
            .unwrap()
            .id,
        first.id()
    );
}

#[test]
fn a_timeline_is_read_from_the_start_of_its_newest_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();
    let other = store.create_case(&new_case("INC0002"), T0).unwrap();
    assert_eq!(store.journal_newest_start(case.id, 3).unwrap(), None);
    // Event times 10, 20, 20, 20, 30 (ties in insertion order), a late entry
    // with an older time inserted last, and the other case's entries
    // between them.
    let mut ids = Vec::new();
    for (i, at) in [20, 10, 20, 30, 20, 5].into_iter().enumerate() {
        let mut entry = note(case.id, Origin::Local, None, &format!("entry {i}"));
        entry.event_at = T0 + at;
        ids.push(store.journal_insert(&entry, T0).unwrap().id());
        let mut theirs = note(other.id, Origin::Local, None, "theirs");
        theirs.event_at = T0 + at;
        store.journal_insert(&theirs, T0).unwrap();
    }
    let texts = |from: Option<JournalPosition>| {
        store
            .journal_for_case_from(case.id, from)
            .unwrap()
            .into_iter()
            .map(|j| j.entry.text)
            .collect::<Vec<_>>()
    };
    let whole = texts(None);
    assert_eq!(
        whole,
        [
            "entry 5", "entry 1", "entry 0", "entry 2", "entry 4", "entry 3"
        ]
    );

    let start = store.journal_newest_start(case.id, 3).unwrap().unwrap();
    assert_eq!(
        start,
        JournalPosition {
            event_at: T0 + 20,
            id: ids[2]
        }
    );
    assert_eq!(texts(Some(start)), whole[3..]);
    assert_eq!(store.journal_count_before(case.id, start).unwrap(), 3);
    // Asking for none still starts at the newest.
    let newest = store.journal_newest_start(case.id, 0).unwrap().unwrap();
    assert_eq!(texts(Some(newest)), ["entry 3"]);
    assert_eq!(store.journal_count_before(case.id, newest).unwrap(), 5);
    // As many as the case has, or more: the timeline starts at its first.
    assert_eq!(store.journal_newest_start(case.id, 6).unwrap(), None);
    assert_eq!(store.journal_newest_start(case.id, 7).unwrap(), None);
    assert_eq!(store.journal_for_case(case.id).unwrap().len(), 6);
}

#[test]
fn updates_not_understood_are_counted_from_their_own_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();
    let other = store.create_case(&new_case("INC0002"), T0).unwrap();
    for (case_id, kind) in [
        (case.id, NOT_UNDERSTOOD_KIND),
        (case.id, "note"),
        (case.id, NOT_UNDERSTOOD_KIND),
        (other.id, NOT_UNDERSTOOD_KIND),
    ] {
        let mut entry = note(case_id, Origin::Hpe, None, "PART ORDER ??");
        entry.kind = kind.to_owned();
        store.journal_insert(&entry, T0).unwrap();
    }
    assert_eq!(store.journal_not_understood_count(case.id).unwrap(), 2);
    assert_eq!(store.journal_not_understood_count(other.id).unwrap(), 1);
    // The count reads the partial index, whose condition names the kind.
    let plan: Vec<String> = rusqlite::Connection::open(db(&dir))
        .unwrap()
        .prepare(&format!(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM journal
             WHERE case_id = 1 AND kind = '{NOT_UNDERSTOOD_KIND}'"
        ))
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("journal_not_understood")),
        "{plan:?}"
    );
}

#[test]
fn inbox_dedupes_by_message_id_and_keeps_received_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let a = store
        .inbox_insert(Some("q-1"), b"{\"a\":1}", Via::Pull, T0)
        .unwrap();
    assert!(a.is_inserted());
    assert_eq!(
        store
            .inbox_insert(Some("q-1"), b"{\"a\":1}", Via::Pull, T0 + 1)
            .unwrap(),
        Insert::Duplicate(a.id())
    );
    let b = store
        .inbox_insert(None, b"not json", Via::Push, T0 + 2)
        .unwrap();
    let c = store
        .inbox_insert(None, b"not json", Via::Push, T0 + 3)
        .unwrap();
    assert!(b.is_inserted() && c.is_inserted());
    assert!(a.id() < b.id() && b.id() < c.id());

    let next = store.inbox_next_unprocessed().unwrap().unwrap();
    assert_eq!(next.id, a.id());
    assert_eq!(next.raw, b"{\"a\":1}");
    assert_eq!(next.via, Via::Pull);
    store.inbox_mark_processed(a.id(), T0 + 10).unwrap();
    assert_eq!(store.inbox_next_unprocessed().unwrap().unwrap().id, b.id());
    store.inbox_mark_quarantined(b.id(), T0 + 11).unwrap();
    assert_eq!(store.inbox_next_unprocessed().unwrap().unwrap().id, c.id());
    let done = store.inbox_get(a.id()).unwrap().unwrap();
    assert_eq!(done.processed_at, Some(T0 + 10));
}

#[test]
fn quarantine_dedupes_by_sha256_and_counts_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let body = b"{\"Message\": {\"TransactionName\": \"SERVICE REQUEST\"}}";
    let item = NewQuarantine::whole(body, "inbound transaction only we send", None);
    assert_eq!(item.sha256.len(), 64);
    let first = store.quarantine_insert(&item, T0).unwrap();
    assert!(first.new);
    assert_eq!(first.delivery_count, 1);
    let second = store.quarantine_insert(&item, T0 + 60_000).unwrap();
    assert_eq!(
        (second.id, second.new, second.delivery_count),
        (first.id, false, 2)
    );

    let row = store.quarantine_get(first.id).unwrap().unwrap();
    assert_eq!(row.raw, body);
    assert_eq!(row.size, body.len() as u64);
    assert_eq!((row.first_seen_at, row.last_seen_at), (T0, T0 + 60_000));
    assert_eq!(row.state, QuarantineState::Open);

    // An oversized body: its first bytes, with the size and hash of the whole.
    let big = NewQuarantine {
        raw: b"{\"Message\": ",
        size: 40 * 1024 * 1024,
        sha256: "ab".repeat(32),
        reason: "body over the 32 MiB limit",
        inbox_id: None,
    };
    let oversized = store.quarantine_insert(&big, T0).unwrap();
    assert!(oversized.new);
    assert_eq!(
        store.quarantine_get(oversized.id).unwrap().unwrap().size,
        40 * 1024 * 1024
    );

    store
        .quarantine_set_state(first.id, QuarantineState::Discarded)
        .unwrap();
    let open = store.quarantine_list(QuarantineState::Open).unwrap();
    assert_eq!(
        open.iter().map(|q| q.id).collect::<Vec<_>>(),
        [oversized.id]
    );
    // A discarded entry redelivered is counted but stays discarded.
    let third = store.quarantine_insert(&item, T0 + 120_000).unwrap();
    assert_eq!(third.delivery_count, 3);
    assert_eq!(
        store.quarantine_get(first.id).unwrap().unwrap().state,
        QuarantineState::Discarded
    );
}

// ---- outbox -----------------------------------------------------------------

#[test]
fn outbox_keeps_strict_order_and_a_parked_message_holds_back_only_its_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let a = store.create_case(&new_case("INC000A"), T0).unwrap();
    let b = store.create_case(&new_case("INC000B"), T0).unwrap();
    let a1 = store
        .outbox_enqueue(a.id, "SERVICE REQUEST", "{\"a\":1}", Some(3), T0)
        .unwrap();
    let b1 = store
        .outbox_enqueue(b.id, "SERVICE REQUEST", "{\"b\":1}", Some(3), T0 + 1)
        .unwrap();
    let a2 = store
        .outbox_enqueue(
            a.id,
            "PROVIDE PROBLEM INFORMATION",
            "{\"a\":2}",
            None,
            T0 + 2,
        )
        .unwrap();
    assert!(a1 < b1 && b1 < a2);
    let head = || store.outbox_head().unwrap().map(|m| m.seq);

    assert_eq!(head(), Some(a1));
    store
        .outbox_record_attempt(a1, T0 + 1_000, "connection refused")
        .unwrap();
    let tried = store.outbox_get(a1).unwrap().unwrap();
    assert_eq!(tried.attempts, 1);
    assert_eq!(tried.next_attempt_at, T0 + 1_000);
    assert_eq!(tried.last_error.as_deref(), Some("connection refused"));
    assert_eq!(head(), Some(a1), "a transient failure keeps the head");

    store.outbox_park(a1, "1001 missing field", T0 + 3).unwrap();
    assert_eq!(head(), Some(b1), "other cases go on");
    assert_eq!(
        store.outbox_stats(T0 + 10).unwrap(),
        OutboxStats {
            queued: 2,
            parked: 1,
            oldest_queued_age_ms: Some(9),
        }
    );
    store.outbox_mark_acked(b1, false, T0 + 4).unwrap();
    assert_eq!(head(), None, "a2 waits behind the parked a1");
    assert!(matches!(
        store.outbox_mark_acked(a1, false, T0),
        Err(StoreError::OutboxState {
            action: "acknowledged",
            ..
        })
    ));

    store
        .outbox_retry(a1, Some("{\"a\":1,\"fixed\":true}"), T0 + 5)
        .unwrap();
    let retried = store.outbox_head().unwrap().unwrap();
    assert_eq!(retried.seq, a1);
    assert_eq!(retried.body, "{\"a\":1,\"fixed\":true}");
    store.outbox_mark_acked(a1, true, T0 + 6).unwrap();
    let acked = store.outbox_get(a1).unwrap().unwrap();
    assert_eq!(
        (acked.state, acked.acked_at),
        (OutboxState::Inferred, Some(T0 + 6))
    );
    assert_eq!(head(), Some(a2));
    store.outbox_drop(a2, T0 + 7).unwrap();
    assert_eq!(head(), None);
    assert_eq!(
        store.outbox_stats(T0 + 10).unwrap(),
        OutboxStats {
            queued: 0,
            parked: 0,
            oldest_queued_age_ms: None,
        }
    );
    let states: Vec<_> = store
        .outbox_for_case(a.id)
        .unwrap()
        .into_iter()
        .map(|m| m.state)
        .collect();
    assert_eq!(states, [OutboxState::Inferred, OutboxState::Dropped]);
}

#[test]
fn a_case_and_its_outbox_row_commit_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));

    let failed: Result<(), StoreError> = store.transaction(|tx| {
        let case = tx.create_case(&new_case("INC0001"), T0)?;
        tx.outbox_enqueue(case.id, "SERVICE REQUEST", "{}", Some(3), T0)?;
        Err(StoreError::NotFound {
            what: "test",
            id: "abort".to_owned(),
        })
    });
    assert!(failed.is_err());
    assert!(store.list_cases(&CaseFilter::default()).unwrap().is_empty());
    assert_eq!(store.outbox_head().unwrap(), None);

    let (case, seq) = store
        .transaction(|tx| {
            let case = tx.create_case(&new_case("INC0001"), T0)?;
            let seq = tx.outbox_enqueue(case.id, "SERVICE REQUEST", "{}", Some(3), T0)?;
            let entry = NewJournal {
                outbox_seq: Some(seq),
                state: JournalState::Pending,
                ..note(case.id, Origin::Local, None, "opened")
            };
            tx.journal_insert(&entry, T0)?;
            Ok::<_, StoreError>((case, seq))
        })
        .unwrap();
    assert_eq!(
        case.tracking_number, "INC0001_1",
        "the rolled-back N is reused"
    );
    assert_eq!(store.case_pending_state(case.id).unwrap(), 3);
    assert_eq!(store.case_by_id(case.id).unwrap().unwrap().state, 0);

    // Journal entries follow the message that carries them.
    store
        .outbox_park(seq, "1003 not valid in this state", T0 + 1)
        .unwrap();
    assert_eq!(
        store.journal_for_case(case.id).unwrap()[0].entry.state,
        JournalState::Failed
    );
    store.outbox_retry(seq, None, T0 + 2).unwrap();
    store.outbox_mark_acked(seq, false, T0 + 3).unwrap();
    assert_eq!(
        store.journal_for_case(case.id).unwrap()[0].entry.state,
        JournalState::Sent
    );
    assert_eq!(store.case_pending_state(case.id).unwrap(), 0);

    // A failing operation inside a transaction undoes only itself.
    store
        .transaction(|tx| {
            assert!(tx.set_case_provider_id(9999, "x", T0).is_err());
            tx.audit_append("alice", Some(case.id), "note", "kept", T0)
        })
        .unwrap();
    assert_eq!(store.audit_recent(10).unwrap()[0].detail, "kept");
}

// ---- onsite tasks and part orders ---------------------------------------------

fn task(status: &str, at_ms: i64) -> TaskUpdate {
    TaskUpdate {
        task_id: "WO-77".to_owned(),
        status: Some(status.to_owned()),
        status_known: true,
        event_time: Some(format!("t{at_ms}")),
        event_at_ms: Some(at_ms),
        raw_text: Some(format!("ONSITE TASK WO-77 STATUS {status}")),
        ..TaskUpdate::default()
    }
}

#[test]
fn task_events_dedupe_and_a_late_older_update_never_moves_the_status_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();

    let scheduled = TaskUpdate {
        engineer_eta: Some("2026-01-02 09:00".to_owned()),
        description: Some("Replace drive".to_owned()),
        ..task("scheduled", T0 + 1_000)
    };
    let first = store.record_task_event(case.id, &scheduled, T0).unwrap();
    assert!(first.event.unwrap().is_inserted());
    assert!(first.status_changed);

    let onsite = TaskUpdate {
        engineer_eta: Some("2026-01-02 10:30".to_owned()),
        ..task("onsite", T0 + 3_000)
    };
    let out = store.record_task_event(case.id, &onsite, T0 + 10).unwrap();
    assert_eq!(
        (out.status.as_deref(), out.status_changed),
        (Some("onsite"), true)
    );
    assert_eq!(out.record_id, first.record_id);

    // Older than `onsite`, arriving later: joins the timeline, moves nothing.
    let late = TaskUpdate {
        engineer_eta: Some("2026-01-02 11:00".to_owned()),
        scheduled_start: Some("2026-01-02 08:00".to_owned()),
        ..task("dispatched", T0 + 2_000)
    };
    let out = store.record_task_event(case.id, &late, T0 + 20).unwrap();
    assert_eq!(
        (out.status.as_deref(), out.status_changed),
        (Some("onsite"), false)
    );

    // A repeat adds nothing.
    let repeat = store.record_task_event(case.id, &onsite, T0 + 30).unwrap();
    assert!(matches!(repeat.event, Some(Insert::Duplicate(_))));
    assert!(!repeat.status_changed);

    let tasks = store.tasks_for_case(case.id).unwrap();
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t.task_id, "WO-77");
    assert_eq!(t.status.as_deref(), Some("onsite"));
    // The newer ETA stays; the late update only filled the empty field.
    assert_eq!(t.engineer_eta.as_deref(), Some("2026-01-02 10:30"));
    assert_eq!(t.scheduled_start.as_deref(), Some("2026-01-02 08:00"));
    assert_eq!(t.description.as_deref(), Some("Replace drive"));

    let timeline: Vec<_> = store
        .task_timeline(t.id)
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(timeline, ["scheduled", "dispatched", "onsite"]);

    // An unparseable time sorts at its arrival: here after the others.
    let unparsed = TaskUpdate {
        event_time: Some("next tuesday".to_owned()),
        event_at_ms: None,
        status_known: false,
        ..task("ENGINEER DELAYED", 0)
    };
    let out = store
        .record_task_event(case.id, &unparsed, T0 + 5_000)
        .unwrap();
    assert_eq!(out.status.as_deref(), Some("ENGINEER DELAYED"));
    let t = &store.tasks_for_case(case.id).unwrap()[0];
    assert!(!t.status_known);
    let last = store.task_timeline(t.id).unwrap().pop().unwrap();
    assert_eq!(
        (last.event_time.as_deref(), last.event_at, last.created_at),
        (Some("next tuesday"), None, T0 + 5_000)
    );
}

#[test]
fn part_orders_keep_return_flags_and_their_own_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();
    let shipped = PartUpdate {
        order_id: "PO-5".to_owned(),
        status: Some("shipped".to_owned()),
        status_known: true,
        part_number: Some("P12345-001".to_owned()),
        part_description: Some("1.2TB SAS HDD".to_owned()),
        quantity: Some(2),
        carrier: Some("UPS".to_owned()),
        tracking_number: Some("1Z999".to_owned()),
        event_time: Some("2026-01-01 12:00:00".to_owned()),
        event_at_ms: Some(T0 + 43_200_000),
        ..PartUpdate::default()
    };
    store.record_part_event(case.id, &shipped, T0).unwrap();
    let delivered = PartUpdate {
        order_id: "PO-5".to_owned(),
        status: Some("delivered".to_owned()),
        status_known: true,
        carrier: Some("  ".to_owned()),
        return_required: Some(true),
        return_status: Some("AWAITING PICKUP".to_owned()),
        return_status_known: false,
        event_time: Some("2026-01-02 09:00:00".to_owned()),
        event_at_ms: Some(T0 + 118_800_000),
        ..PartUpdate::default()
    };
    let out = store
        .record_part_event(case.id, &delivered, T0 + 1)
        .unwrap();
    assert_eq!(out.status.as_deref(), Some("delivered"));
    let again = store
        .record_part_event(case.id, &delivered, T0 + 2)
        .unwrap();
    assert!(matches!(again.event, Some(Insert::Duplicate(_))));

    let parts = store.parts_for_case(case.id).unwrap();
    assert_eq!(parts.len(), 1);
    let p = &parts[0];
    assert_eq!(p.status.as_deref(), Some("delivered"));
    assert_eq!(p.quantity, Some(2));
    assert_eq!(
        p.carrier.as_deref(),
        Some("UPS"),
        "blank values are ignored"
    );
    assert_eq!(p.return_required, Some(true));
    assert_eq!(p.return_status.as_deref(), Some("AWAITING PICKUP"));
    assert!(!p.return_status_known);
    let timeline: Vec<_> = store
        .part_timeline(p.id)
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    assert_eq!(timeline, ["shipped", "delivered"]);
    // Tasks and parts do not mix.
    assert!(store.tasks_for_case(case.id).unwrap().is_empty());
}

// ---- meta ---------------------------------------------------------------------

#[test]
fn meta_values_persist_replace_and_roll_back_with_their_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = tool(&path);
    assert_eq!(store.meta_get("servicenow.watermark").unwrap(), None);
    store
        .meta_set("servicenow.watermark", "2026-01-01 00:00:00")
        .unwrap();
    store
        .meta_set("servicenow.watermark", "2026-01-01 00:00:07")
        .unwrap();
    assert_eq!(
        store.meta_get("servicenow.watermark").unwrap().as_deref(),
        Some("2026-01-01 00:00:07")
    );
    // Inside a transaction that fails, nothing is kept.
    let failed: Result<(), StoreError> = store.transaction(|tx| {
        tx.meta_set("servicenow.watermark", "2026-01-02 00:00:00")?;
        assert_eq!(
            tx.meta_get("servicenow.watermark").unwrap().as_deref(),
            Some("2026-01-02 00:00:00")
        );
        Err(StoreError::NotFound {
            what: "case",
            id: "1".into(),
        })
    });
    assert!(failed.is_err());
    drop(store);
    let store = tool(&path);
    assert_eq!(
        store.meta_get("servicenow.watermark").unwrap().as_deref(),
        Some("2026-01-01 00:00:07")
    );
    // The store's own marks can be read, never set.
    assert!(
        store
            .meta_get("created_by")
            .unwrap()
            .unwrap()
            .starts_with("casebridge ")
    );
    for key in casebridge::store::RESERVED_META_KEYS {
        let err = store.meta_set(key, "1").unwrap_err();
        assert!(
            matches!(&err, StoreError::ReservedMetaKey { key: k } if k == key),
            "{err}"
        );
        assert!(err.to_string().contains("cannot be set"), "{err}");
    }
    assert!(!store.is_demo());
    assert_eq!(store.meta_get("demo").unwrap(), None);
}

#[test]
fn store_operations_nest_inside_one_read_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = tool(&db(&dir));
    let case = store.create_case(&new_case("INC0001"), T0).unwrap();
    store
        .outbox_enqueue(case.id, "SERVICE REQUEST", "{}", Some(3), T0)
        .unwrap();
    // The console reads a case's summary in one transaction; an operation
    // that is atomic on its own must nest there, not fail to begin.
    let (pending, confirmed) = store
        .read(|s| {
            let pending = s.case_pending_state(case.id)?;
            let confirmed = s.case_by_id(case.id)?.map(|c| c.state);
            Ok::<_, StoreError>((pending, confirmed))
        })
        .unwrap();
    assert_eq!((pending, confirmed), (3, Some(0)));
}

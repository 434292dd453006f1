//! The store: one SQLite file holding everything casebridge knows (cases,
//! journal, onsite tasks, part orders, outbox, inbox, quarantine, audit).
//! It is the only truth: whatever enters is committed here before it is
//! acknowledged, whatever leaves is committed here before it is sent.
//!
//! Open it with [`Store::open`]. Operations are methods of the extension
//! traits in [`prelude`], available both on a [`Store`] (each call is its own
//! transaction) and on the [`Tx`] given by [`Store::transaction`] (all calls
//! commit together, e.g. a case change and its outbox row).
//!
//! Times are `i64` unix milliseconds UTC, always passed in by the caller
//! (`now`), so tests can fix the clock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// Declares a fieldless enum stored as a fixed lower-case word.
macro_rules! sql_enum {
    ($(#[$meta:meta])* pub enum $name:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The word stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                match value.as_str()? {
                    $($text => Ok(Self::$variant),)+
                    other => Err(rusqlite::types::FromSqlError::Other(
                        format!("unknown {} {other:?}", stringify!($name)).into(),
                    )),
                }
            }
        }
    };
}

mod audit;
mod cases;
mod error;
mod inbox;
mod journal;
mod lock;
mod meta;
pub mod metrics;
mod migrate;
mod outbox;
pub mod records;

pub use audit::{AuditOps, AuditRow};
pub use cases::{
    CaseFilter, CaseOps, CaseRow, IncidentChange, IncidentRow, NewCase, NewSystem, SystemRow,
    is_finished,
};
pub use error::StoreError;
pub use inbox::{
    InboxOps, InboxRow, InboxState, NewQuarantine, QuarantineInsert, QuarantineRow,
    QuarantineState, Via,
};
pub use journal::{
    JournalOps, JournalPosition, JournalRow, JournalState, NOT_UNDERSTOOD_KIND, NewJournal, Origin,
};
pub use meta::{MetaOps, RESERVED_META_KEYS};
pub use migrate::SCHEMA_VERSION;
pub use outbox::{OutboxOps, OutboxRow, OutboxState, OutboxStats};
pub use records::{
    EventRow, PartRecord, PartUpdate, RecordOps, RecordOutcome, TaskRecord, TaskUpdate,
};

/// Everything needed to call store operations: `use casebridge::store::prelude::*;`.
pub mod prelude {
    pub use super::{AuditOps, CaseOps, InboxOps, JournalOps, MetaOps, OutboxOps, RecordOps};
}

/// How long a connection waits for another writer (a CLI beside the engine,
/// a test) before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Who opens the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The engine: takes the exclusive engine lock. `demo` engines only use
    /// stores made by the demo, real ones only stores that were not.
    Engine { demo: bool },
    /// CLI, doctor, tests: no lock, may run beside the engine.
    Tool,
}

/// Result of an insert guarded by a unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// A new row, with its id.
    Inserted(i64),
    /// The row was already there (same unique key), with its id; nothing changed.
    Duplicate(i64),
}

impl Insert {
    /// The row id, new or existing.
    pub fn id(self) -> i64 {
        match self {
            Insert::Inserted(id) | Insert::Duplicate(id) => id,
        }
    }

    pub fn is_inserted(self) -> bool {
        matches!(self, Insert::Inserted(_))
    }
}

/// An open store. Dropping it closes the database, then frees the engine lock.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    demo: bool,
    /// Moves on every commit of this connection (see [`Store::commits`]).
    commits: tokio::sync::watch::Sender<u64>,
    // Declared after `conn` so the database is closed before the lock goes.
    _lock: Option<lock::EngineLock>,
}

impl Store {
    /// Opens the store at `path`, creating it (and its directory) on first
    /// use and applying pending migrations.
    ///
    /// Refuses, leaving the file untouched: a store from a newer casebridge
    /// ([`StoreError::TooNew`]); for an engine, a store locked by another
    /// engine ([`StoreError::Locked`]) or of the other kind, demo or real
    /// ([`StoreError::DemoMismatch`]).
    pub fn open(path: &Path, role: Role) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                action: "create the store directory",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let lock = match role {
            Role::Engine { .. } => Some(lock::EngineLock::acquire(path)?),
            Role::Tool => None,
        };
        let mut conn = connect(path)?;
        let found = migrate::user_version(&conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let fresh = found == 0;
        if let Role::Engine { demo } = role
            && !fresh
        {
            let store_is_demo = read_demo_mark(&conn)?;
            if store_is_demo != demo {
                return Err(StoreError::DemoMismatch {
                    path: path.to_path_buf(),
                    store_is_demo,
                });
            }
        }
        // Only now may the file change: WAL mode is written to its header.
        configure(&conn, path)?;
        let mark_demo = role == Role::Engine { demo: true };
        migrate::migrate(&mut conn, path, SCHEMA_VERSION, |c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('created_by', ?1)",
                [concat!("casebridge ", env!("CARGO_PKG_VERSION"))],
            )?;
            if mark_demo {
                c.execute("INSERT INTO meta(key, value) VALUES ('demo', '1')", [])?;
            }
            Ok(())
        })?;
        let demo = read_demo_mark(&conn)?;
        let commits = tokio::sync::watch::Sender::new(0u64);
        let rung = commits.clone();
        conn.commit_hook(Some(move || {
            rung.send_modify(|n| *n = n.wrapping_add(1));
            false
        }));
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            demo,
            commits,
            _lock: lock,
        })
    }

    /// Changes after every commit made through this store (its connection;
    /// other processes' writes are not seen here). SQLite calls the hook
    /// just before the commit ends, while the committer still holds the
    /// store, so whoever wakes on it and then takes the store reads the
    /// committed state.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Runs `f` in one read (deferred) transaction: all its queries see the
    /// same state of the store, and SQLite takes its read lock once rather
    /// than once per statement. `f` only reads: [`Store::transaction`] and
    /// the operations that run in their own transaction fail inside it.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)
            .map_err(StoreError::from)?;
        let out = f(self)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the demo made this store.
    pub fn is_demo(&self) -> bool {
        self.demo
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction: committed if it
    /// returns `Ok`, rolled back otherwise. Do not call `transaction` again
    /// inside `f`; use the `Tx` given.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let out = f(&Tx { conn: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }
}

/// Builds a store at `path` with only the first `version` migrations
/// applied: how a database written by an older casebridge looks. For tests.
#[doc(hidden)]
pub fn create_at_version(path: &Path, version: u32) -> Result<(), StoreError> {
    let mut conn = connect(path)?;
    configure(&conn, path)?;
    migrate::migrate(&mut conn, path, version.min(SCHEMA_VERSION), |_| Ok(()))
}

/// A transaction opened by [`Store::transaction`].
#[derive(Debug)]
pub struct Tx<'s> {
    conn: &'s Connection,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Store {}
    impl Sealed for super::Tx<'_> {}
}

/// Where operations run: a [`Store`] or a [`Tx`]. Implemented by those two
/// only; the operations themselves are in the [`prelude`] traits.
pub trait Access: sealed::Sealed {
    #[doc(hidden)]
    fn conn(&self) -> &Connection;

    /// Runs `f` all or nothing: on a `Store` in its own immediate
    /// transaction, on a `Tx` in a savepoint of it.
    #[doc(hidden)]
    fn atomic<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
}

impl Access for Store {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn atomic<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // Inside [`Store::read`] a transaction is open already: nest in a
        // savepoint of it, as a `Tx` does, instead of failing to begin.
        if !self.conn.is_autocommit() {
            return Tx { conn: &self.conn }.atomic(f);
        }
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Access for Tx<'_> {
    fn conn(&self) -> &Connection {
        self.conn
    }

    fn atomic<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.conn.execute_batch("SAVEPOINT op")?;
        match f(self.conn) {
            Ok(out) => {
                self.conn.execute_batch("RELEASE op")?;
                Ok(out)
            }
            Err(e) => {
                // The caller sees the original error; if even the rollback to
                // the savepoint fails, the whole transaction rolls back when
                // the caller returns that error.
                let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
                Err(e)
            }
        }
    }
}

/// Room for every fixed statement of the store modules.
const STATEMENT_CACHE: usize = 128;

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    // The store's hot statements are prepared once (`prepare_cached`); they
    // number more than rusqlite's default of 16, which made the cache evict
    // them in turn while processing a single message.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The pragmas every connection gets. `synchronous=FULL`: an acknowledgement
/// to GSEM depends on the commit having reached the disk.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NoWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(open_err)?;
    Ok(())
}

/// Turns "no row changed" of an update by id into `NotFound`.
fn expect_one(changed: usize, what: &'static str, id: i64) -> Result<(), StoreError> {
    match changed {
        0 => Err(StoreError::NotFound {
            what,
            id: id.to_string(),
        }),
        _ => Ok(()),
    }
}

fn read_demo_mark(conn: &Connection) -> Result<bool, StoreError> {
    let value: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'demo'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(value.as_deref() == Some("1"))
}

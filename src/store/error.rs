use std::path::PathBuf;

/// Everything that can go wrong opening or using the store. Messages name
/// the file and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store {path} is in use by another casebridge engine: {holder}. \
         Stop that process first (or use the CLI, which may run beside it), \
         or point store.path at another file"
    )]
    Locked { path: PathBuf, holder: String },

    #[error(
        "store {path} has schema version {found}, but this casebridge knows \
         only up to {supported}: it was written by a newer casebridge. \
         Upgrade casebridge; the file was left unchanged"
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A demo store opened by a real engine, or a real store by the demo.
    #[error("{}", demo_mismatch(path, *store_is_demo))]
    DemoMismatch { path: PathBuf, store_is_demo: bool },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open store {path}: {source}; check the path and its permissions")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "store {path} cannot use WAL journaling (journal_mode stayed {mode}); \
         put the store on a local file system"
    )]
    NoWal { path: PathBuf, mode: String },

    #[error("store migration {version} failed on {path}: {source}; the store was left at version {}", version - 1)]
    Migration {
        path: PathBuf,
        version: u32,
        #[source]
        source: rusqlite::Error,
    },

    #[error("no {what} {id} in the store")]
    NotFound { what: &'static str, id: String },

    #[error(
        "HPE case number {provider_id} already belongs to case {tracking_number}; \
         one HPE case cannot be paired with two of ours"
    )]
    ProviderIdInUse {
        provider_id: String,
        tracking_number: String,
    },

    #[error("outbox message {seq} is {state}; it cannot be {action}")]
    OutboxState {
        seq: i64,
        state: String,
        action: &'static str,
    },

    #[error(
        "meta key {key:?} belongs to the store itself and cannot be set; \
         use a key of your own module's name, e.g. \"servicenow.watermark\""
    )]
    ReservedMetaKey { key: String },

    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

fn demo_mismatch(path: &std::path::Path, store_is_demo: bool) -> String {
    if store_is_demo {
        format!(
            "store {} was made by the demo; point store.path elsewhere for a real engine",
            path.display()
        )
    } else {
        format!(
            "store {} belongs to a real engine; the demo runs on its own store: \
             give the demo another store.path",
            path.display()
        )
    }
}

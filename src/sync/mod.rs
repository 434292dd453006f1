//! The sync engine's ServiceNow side: read the incidents that matter and
//! their new journal entries, turn them into work for HPE (notes, closes)
//! and turn HPE's side into writes on the incident (comments, correlation,
//! state), never echoing a change back.
//!
//! Deciding is apart from doing: [`plan`] is a pure function of stored
//! state and what was just read; [`engine`] polls, reads, and carries the
//! plan out, with the [`ledger`] making journal writes safe to retry.

pub mod display;
pub mod ledger;
pub mod plan;
pub mod text;

pub mod engine;
pub mod health;
pub mod hint;
pub mod hpe;

pub use engine::{RoundReport, ServiceNowSync, SyncHandle};
pub use health::ServiceNowHealth;

use crate::config::Settings;
use crate::gsem::actions::ActionError;
use crate::servicenow::{SetupError, SnError};
use crate::sis::{ActivityTable, Destination};
use crate::store::StoreError;

/// What the ServiceNow side needs from the configuration.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub servicenow: crate::config::ServiceNow,
    /// Where notes and closes for HPE are addressed.
    pub destination: Destination,
    pub activity: ActivityTable,
    /// Longest journal entry the instance keeps, in characters; longer HPE
    /// notes are cut visibly (see [`text::fit`]). `None`: no limit.
    pub max_journal_chars: Option<usize>,
}

impl SyncConfig {
    /// From the validated settings.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            servicenow: settings.servicenow.clone(),
            destination: Destination {
                remote_agent_name: settings.gsem.remote_agent_name.clone(),
                remote_agent_type: settings.gsem.remote_agent_type.clone(),
            },
            activity: ActivityTable::default(),
            max_journal_chars: settings.servicenow.max_journal_length,
        }
    }
}

/// Why a round (or the engine) stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    ServiceNow(#[from] SnError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot queue the message for HPE: {0}")]
    Action(#[from] ActionError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("the ServiceNow sync is stopping")]
    Stopped,
}

//! casebridge: keeps ServiceNow incidents and HPE support cases in sync.
//!
//! The engine modules (`config`, `store`, `sis`, ...) never import the UI.

pub mod cli;
pub mod tls;

//! casebridge: keeps ServiceNow incidents and HPE support cases in sync.
//!
//! The engine modules (`config`, `store`, `sis`, `updates`, `servicenow`)
//! never import the UI.

pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod doctor;
pub mod engine;
pub mod gsem;
pub mod logging;
pub mod serve;
pub mod servicenow;
pub mod sim;
pub mod sis;
pub mod store;
pub mod sync;
pub mod tls;
pub mod tui;
pub mod updates;

//! The ServiceNow side's low-level client: the REST Table API as
//! `shared/spec/servicenow.md` describes it, quirks included.
//!
//! - [`TableClient`] reads, creates and patches records over basic auth or
//!   OAuth (token fetched, refreshed before expiry, refreshed once on 401),
//!   and pages by the `next` link only, never by `prev` or by counting rows.
//! - [`Query`] builds encoded queries from known field names only
//!   ([`TableDef`]), because the platform silently drops a part naming an
//!   unknown field, which can widen a query to the whole table.
//! - [`Record`] and [`RefValue`] read every value and reference shape the
//!   display-value modes produce.
//! - [`SnError`] says what went wrong and whether to retry
//!   ([`SnError::is_transient`], [`SnError::retry_after`]).
//!
//! Polling watermarks, journal idempotency and retries belong to the sync
//! engine, which builds on this.

mod client;
mod error;
mod query;
mod record;
mod setup;
mod tables;

pub use client::{ClientOptions, Page, Pager, TableClient, TlsRoots};
pub use error::SnError;
pub use query::{Op, Query};
pub use record::{
    Display, DisplayMode, Record, RefValue, TIME_FORMAT, format_datetime, parse_datetime,
};
pub use setup::{SetupError, client_for};
pub use tables::{
    CI, GROUP, INCIDENT, JOURNAL, TableDef, USER, ci, group, incident, journal, user,
};

/// Credentials, as the configuration gives them.
pub use crate::config::ServiceNowAuth as Auth;

//! The GSEM side of the engine: the mTLS client, the outbox drainer, the
//! pull poller and push receiver that feed the inbox, and the inbox
//! processor that applies HPE's messages to cases.
//!
//! Deciding is kept apart from doing: [`classify`] (what a reply to a POST
//! means) and [`backoff`] (when to try again) are pure functions; the tasks
//! around them only move bytes between GSEM and the store.

pub mod actions;
pub mod backoff;
pub mod classify;
pub mod client;
pub mod drainer;
pub mod health;
pub mod pem;
pub mod poller;
pub mod processor;
pub mod push;
pub mod shared;

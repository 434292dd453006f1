//! The SIS message model: build what we send to GSEM, read what it
//! delivers, and the case state machine of the spec (`gsem.md` §2, §3).
//!
//! Everything here is pure: no I/O, no clock (every generated value comes
//! from a `now` argument), so a resend of a committed message is
//! byte-identical and every rule can be tested exhaustively.

pub mod date;
pub mod fields;
pub mod model;
pub mod transaction;

pub use model::{DecodeError, Envelope, Message, ServiceIncident};
pub use transaction::TransactionName;

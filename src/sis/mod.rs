//! The SIS message model: build what we send to GSEM, read what it
//! delivers, and the case state machine of the spec (`gsem.md` §2, §3).
//!
//! Everything here is pure: no I/O, no clock (every generated value comes
//! from a `now` argument), so a resend of a committed message is
//! byte-identical and every rule can be tested exhaustively.
//!
//! - [`model`]: the typed envelope; [`Envelope::from_json`] reads any SIS
//!   document, [`Envelope::to_json`] writes one.
//! - [`build`]: the transactions we send ([`MessageBuilder`]).
//! - [`inbound`]: what HPE sends ([`parse_inbound`], [`parse_pull`]).
//! - [`ack`]: GSEM's reply to a POST ([`parse_ack`]) and the pull PATCH body.
//! - [`state`]: [`state::apply`], the state table of §3.
//! - [`date`], [`fields`]: GSEM dates and structured fields.

pub mod ack;
pub mod build;
pub mod date;
pub mod ext;
pub mod fields;
pub mod inbound;
pub mod model;
pub mod state;
pub mod transaction;

pub use ack::{Ack, AckError, AckStatus, PullAck, parse_ack};
pub use build::{
    ActivityEntry, ActivityTable, Address, BuildError, CaseRef, Destination, MessageBuilder,
    Person, Requester, ServiceRequestInput,
};
pub use inbound::{Inbound, InboundError, PullReply, parse_inbound, parse_pull, peek_message_id};
pub use model::{DecodeError, Envelope, Message, ServiceIncident};
pub use state::{Decision, Event, State};
pub use transaction::TransactionName;

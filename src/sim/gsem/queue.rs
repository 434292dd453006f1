//! The inbound queue (HPE → requester): first in, first out, in memory.
//!
//! GSEM delivers one message at a time and holds the next back until the
//! current head is acknowledged, so the queue only ever hands out its head.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::sis;
use crate::sis::model::QueueDetails;

/// What the queue holds for one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueBody {
    /// A transaction of HPE's: delivered as `{"QueueDetails": …, "Message": …}`
    /// with the delivery count of the attempt.
    Message(Box<sis::Message>),
    /// Bytes a test put there verbatim (a head without `MessageId`, an
    /// oversized body, garbage): delivered exactly as given.
    Raw(Vec<u8>),
}

/// One entry of the inbound queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    /// The queue's own handle of the entry, unique even for raw bodies.
    pub seq: u64,
    /// `QueueDetails.MessageId`; `None` for a raw body that carries none.
    pub message_id: Option<String>,
    pub enqueued_at: DateTime<Utc>,
    /// How many times this entry has been handed out (pull GET or push POST).
    pub delivery_count: u32,
    pub body: QueueBody,
}

impl QueueEntry {
    /// The bytes of one delivery of this entry, as GSEM would send them.
    pub fn delivery_bytes(&self) -> Vec<u8> {
        match &self.body {
            QueueBody::Raw(bytes) => bytes.clone(),
            QueueBody::Message(message) => {
                let envelope = sis::Envelope {
                    queue_details: Some(QueueDetails {
                        message_id: self.message_id.clone(),
                        enqueued_at: Some(sis::date::format(self.enqueued_at)),
                        delivery_count: Some(i64::from(self.delivery_count)),
                    }),
                    message: (**message).clone(),
                };
                // The SIS types serialise to a JSON object with string keys:
                // this cannot fail.
                envelope.to_json().unwrap_or_default()
            }
        }
    }

    /// The `Message` object of a transaction entry, `None` for a raw body.
    pub fn message(&self) -> Option<&sis::Message> {
        match &self.body {
            QueueBody::Message(message) => Some(message),
            QueueBody::Raw(_) => None,
        }
    }
}

/// The answer to a `PATCH` acknowledging a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The head was removed.
    Removed,
    /// That id was acknowledged before: answered 200 again (acks are idempotent).
    AlreadyAcknowledged,
    /// The id is in the queue but is not the head: it was never delivered.
    NotHead,
    /// No message ever had that id.
    Unknown,
}

/// FIFO of HPE's transactions waiting for the requester.
#[derive(Debug, Default)]
pub struct InboundQueue {
    entries: VecDeque<QueueEntry>,
    acknowledged: HashSet<String>,
    next_seq: u64,
}

impl InboundQueue {
    /// Appends one of HPE's transactions (`Message` object) and returns its id.
    pub fn push_message(&mut self, message: sis::Message, now: DateTime<Utc>) -> String {
        let seq = self.next_seq();
        let id = format!("q-{seq:06}");
        self.entries.push_back(QueueEntry {
            seq,
            message_id: Some(id.clone()),
            enqueued_at: now,
            delivery_count: 0,
            body: QueueBody::Message(Box::new(message)),
        });
        id
    }

    /// Appends bytes delivered verbatim. Their id, when they carry a readable
    /// `QueueDetails.MessageId`, is what a PATCH must name to remove them.
    pub fn push_raw(&mut self, bytes: Vec<u8>, now: DateTime<Utc>) -> Option<String> {
        let message_id = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            v.pointer("/QueueDetails/MessageId")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let seq = self.next_seq();
        self.entries.push_back(QueueEntry {
            seq,
            message_id: message_id.clone(),
            enqueued_at: now,
            delivery_count: 0,
            body: QueueBody::Raw(bytes),
        });
        message_id
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Hands out the head for one more delivery (its count goes up by one).
    pub fn deliver_head(&mut self) -> Option<QueueEntry> {
        let head = self.entries.front_mut()?;
        head.delivery_count += 1;
        Some(head.clone())
    }

    /// The head as it stands, without counting a delivery.
    pub fn head(&self) -> Option<&QueueEntry> {
        self.entries.front()
    }

    /// Acknowledges `id`: removes the head when it has that id.
    pub fn acknowledge(&mut self, id: &str) -> AckOutcome {
        if self.acknowledged.contains(id) {
            return AckOutcome::AlreadyAcknowledged;
        }
        match self.entries.front() {
            Some(head) if head.message_id.as_deref() == Some(id) => {
                self.entries.pop_front();
                self.acknowledged.insert(id.to_owned());
                AckOutcome::Removed
            }
            _ if self
                .entries
                .iter()
                .any(|e| e.message_id.as_deref() == Some(id)) =>
            {
                AckOutcome::NotHead
            }
            _ => AckOutcome::Unknown,
        }
    }

    /// Removes the head whatever it is (GSEM's operators clearing a stuck
    /// message); its id, if any, then counts as acknowledged.
    pub fn remove_head(&mut self) -> Option<QueueEntry> {
        let head = self.entries.pop_front()?;
        if let Some(id) = &head.message_id {
            self.acknowledged.insert(id.clone());
        }
        Some(head)
    }

    /// Removes the head if it is still the entry `seq` (a push delivery
    /// answered 2xx).
    pub fn remove_if_head(&mut self, seq: u64) {
        if self.entries.front().is_some_and(|e| e.seq == seq) {
            self.remove_head();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, head first.
    pub fn entries(&self) -> Vec<QueueEntry> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sis::TransactionName;
    use serde_json::json;

    fn message(name: TransactionName) -> sis::Message {
        sis::Message {
            transaction_name: name,
            remote_agent_name: None,
            remote_agent_type: None,
            ecp_control: None,
            service_incident: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-04-29T04:57:51Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn head_is_redelivered_with_a_growing_count_until_acknowledged() {
        let mut q = InboundQueue::default();
        let first = q.push_message(message(TransactionName::AcceptProblem), now());
        let second = q.push_message(message(TransactionName::ProvideProblemInformation), now());
        assert_eq!(first, "q-000001");
        assert_eq!(second, "q-000002");
        assert_eq!(q.deliver_head().unwrap().delivery_count, 1);
        let again = q.deliver_head().unwrap();
        assert_eq!(again.message_id.as_deref(), Some("q-000001"));
        assert_eq!(again.delivery_count, 2);
        let body: Value = serde_json::from_slice(&again.delivery_bytes()).unwrap();
        assert_eq!(
            body,
            json!({"QueueDetails": {"MessageId": "q-000001", "EnqueuedAt": "2024-04-29 04:57:51", "DeliveryCount": 2},
                   "Message": {"TransactionName": "ACCEPT PROBLEM"}})
        );
        assert_eq!(q.acknowledge(&second), AckOutcome::NotHead);
        assert_eq!(q.acknowledge(&first), AckOutcome::Removed);
        assert_eq!(q.acknowledge(&first), AckOutcome::AlreadyAcknowledged);
        assert_eq!(q.acknowledge("q-999999"), AckOutcome::Unknown);
        assert_eq!(q.len(), 1);
        assert_eq!(q.deliver_head().unwrap().message_id, Some(second));
    }

    #[test]
    fn raw_bodies_are_delivered_verbatim_and_keep_a_readable_id() {
        let mut q = InboundQueue::default();
        assert_eq!(q.push_raw(b"not json".to_vec(), now()), None);
        assert_eq!(q.head().unwrap().seq, 1);
        let with_id = br#"{"QueueDetails": {"MessageId": "q-raw"}, "Message": {}}"#.to_vec();
        assert_eq!(q.push_raw(with_id.clone(), now()), Some("q-raw".into()));
        assert_eq!(q.deliver_head().unwrap().delivery_bytes(), b"not json");
        assert_eq!(q.remove_head().unwrap().message_id, None);
        assert_eq!(q.deliver_head().unwrap().delivery_bytes(), with_id);
        assert_eq!(q.acknowledge("q-raw"), AckOutcome::Removed);
        assert!(q.is_empty());
    }
}

//! A console driven by a test through its link: requests sent with ids of
//! their own, events waited for by what they say, every event kept for the
//! failure message. The same for the in-process engine end and the remote one.

// Each test binary uses its own part of it.
#![allow(dead_code)]

use std::time::Duration;

use casebridge::console::{
    CaseDetail, CaseId, CaseSummary, ConsoleLink, Event, ParkedMessage, QuarantineEntry, Request,
    RequestId,
};

pub struct Console {
    link: ConsoleLink,
    next: u64,
    /// How long a wait for one event may take.
    wait: Duration,
    /// Every event received, for the failure messages.
    pub seen: Vec<Event>,
}

impl Console {
    pub fn new(link: ConsoleLink, wait: Duration) -> Console {
        Console {
            link,
            next: 0,
            wait,
            seen: Vec::new(),
        }
    }

    pub fn send(&mut self, request: Request) -> RequestId {
        self.next += 1;
        let id = RequestId(self.next);
        self.link.send(id, request).unwrap();
        id
    }

    /// Consumes events until `f` picks one.
    pub async fn wait<T>(&mut self, what: &str, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            let event = tokio::time::timeout_at(deadline, self.link.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {what} within {:?}; last events: {:#?}",
                        self.wait,
                        &self.seen[self.seen.len().saturating_sub(8)..]
                    )
                })
                .expect("the console's engine end stopped");
            let picked = f(&event);
            self.seen.push(event);
            if let Some(picked) = picked {
                return picked;
            }
        }
    }

    /// The answer to `request`: the case it touched, or the refusal.
    pub async fn answer(&mut self, request: RequestId) -> Result<Option<CaseId>, String> {
        self.wait("answer", |e| match e {
            Event::RequestAccepted { request: r, case } if *r == request => Some(Ok(*case)),
            Event::RequestFailed { request: r, reason } if *r == request => {
                Some(Err(reason.clone()))
            }
            _ => None,
        })
        .await
    }

    pub async fn accepted(&mut self, request: RequestId) -> Option<CaseId> {
        self.answer(request).await.unwrap()
    }

    pub async fn refused(&mut self, request: RequestId) -> String {
        self.answer(request).await.unwrap_err()
    }

    /// The next change of `case` that `f` accepts.
    pub async fn changed(
        &mut self,
        case: CaseId,
        what: &str,
        mut f: impl FnMut(&CaseSummary) -> bool,
    ) -> CaseSummary {
        self.wait(what, |e| match e {
            Event::CaseChanged(c) if c.id == case && f(c) => Some(c.clone()),
            _ => None,
        })
        .await
    }

    /// The next non-empty parked list that `f` accepts.
    pub async fn parked(
        &mut self,
        what: &str,
        mut f: impl FnMut(&[ParkedMessage]) -> bool,
    ) -> Vec<ParkedMessage> {
        self.wait(what, |e| match e {
            Event::Parked(list) if !list.is_empty() && f(list) => Some(list.clone()),
            _ => None,
        })
        .await
    }

    /// The next quarantine list that `f` accepts.
    pub async fn quarantine(
        &mut self,
        what: &str,
        mut f: impl FnMut(&[QuarantineEntry]) -> bool,
    ) -> Vec<QuarantineEntry> {
        self.wait(what, |e| match e {
            Event::Quarantine(list) if f(list) => Some(list.clone()),
            _ => None,
        })
        .await
    }

    pub async fn detail(
        &mut self,
        what: &str,
        mut f: impl FnMut(&CaseDetail) -> bool,
    ) -> CaseDetail {
        self.wait(what, |e| match e {
            Event::CaseDetail(d) if f(d) => Some((**d).clone()),
            _ => None,
        })
        .await
    }
}

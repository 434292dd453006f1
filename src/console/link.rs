//! The one interface between console and engine: a pair of channels. The
//! in-process engine holds the [`EngineLink`] end itself; a remote client
//! would hold it and forward both directions over HTTPS, and the UI would
//! not know the difference.

use tokio::sync::mpsc;

use super::protocol::{Event, Request, RequestId};

/// The engine side has gone away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine has stopped: restart casebridge (its log in the data dir says why)")]
pub struct LinkClosed;

/// The console's end.
#[derive(Debug)]
pub struct ConsoleLink {
    requests: mpsc::UnboundedSender<(RequestId, Request)>,
    events: mpsc::UnboundedReceiver<Event>,
}

/// The engine's end.
#[derive(Debug)]
pub struct EngineLink {
    pub requests: mpsc::UnboundedReceiver<(RequestId, Request)>,
    pub events: mpsc::UnboundedSender<Event>,
}

impl ConsoleLink {
    /// A connected pair. Unbounded because neither side may block: the UI
    /// never waits, and the engine's events are small and coalesced.
    pub fn pair() -> (ConsoleLink, EngineLink) {
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        (
            ConsoleLink {
                requests: req_tx,
                events: ev_rx,
            },
            EngineLink {
                requests: req_rx,
                events: ev_tx,
            },
        )
    }

    /// Hands a request to the engine without waiting for it.
    pub fn send(&self, id: RequestId, request: Request) -> Result<(), LinkClosed> {
        self.requests.send((id, request)).map_err(|_| LinkClosed)
    }

    /// The next event; `None` once the engine has stopped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An event already waiting, if any (used to coalesce bursts into one
    /// redraw).
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }
}

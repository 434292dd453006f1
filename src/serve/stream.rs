//! One session's event stream: its own console engine end, and a task that
//! forwards the session's requests to it and its events to the client as
//! server-sent events.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::Frame;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::auth::StreamSlot;
use crate::config::Settings;
use crate::console::local::{self, EngineEnd, LocalError};
use crate::console::wire::KEEPALIVE_SECS;
use crate::console::{ConsoleLink, Event};
use crate::engine::Engine;

/// Frames a client may fall behind by before its stream is closed; it then
/// reconnects and starts again from a snapshot, rather than the server
/// holding an unbounded backlog for it.
const FRAME_BUFFER: usize = 4096;

const KEEPALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// A started stream: the slot the session keeps, the response body, and the
/// task to wait for when stopping.
pub(super) struct Opened {
    pub slot: StreamSlot,
    pub body: SseBody,
    pub task: JoinHandle<()>,
}

/// Starts the engine end for `operator` and the task between it and the
/// client. The stream ends when the client goes, when the slot is dropped
/// (the session ended or opened another stream), or at `shutdown`.
pub(super) fn open(
    engine: &Engine,
    settings: &Settings,
    operator: &str,
    shutdown: watch::Receiver<bool>,
) -> Result<Opened, LocalError> {
    let (link, engine_link) = ConsoleLink::pair();
    let end = local::spawn(EngineEnd::of(engine), settings, operator, engine_link)?;
    let (requests_tx, requests) = mpsc::unbounded_channel();
    let (frames, frames_rx) = mpsc::channel(FRAME_BUFFER);
    let task = tokio::spawn(pump(link, end, requests, frames, shutdown));
    Ok(Opened {
        slot: StreamSlot {
            requests: requests_tx,
        },
        body: SseBody { frames: frames_rx },
        task,
    })
}

async fn pump(
    mut link: ConsoleLink,
    end: JoinHandle<()>,
    mut requests: mpsc::UnboundedReceiver<(crate::console::RequestId, crate::console::Request)>,
    frames: mpsc::Sender<Bytes>,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = Duration::from_secs(KEEPALIVE_SECS);
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let frame = tokio::select! {
            event = link.recv() => match event {
                Some(event) => match data_frame(&event) {
                    Some(frame) => frame,
                    None => continue,
                },
                None => break,
            },
            request = requests.recv() => match request {
                Some((id, request)) => {
                    if link.send(id, request).is_err() {
                        break;
                    }
                    continue;
                }
                None => break,
            },
            _ = keepalive.tick() => Bytes::from_static(KEEPALIVE_FRAME),
            () = frames.closed() => break,
            _ = shutdown.changed() => break,
        };
        match frames.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(
                    "serve: a console fell {FRAME_BUFFER} events behind; its stream is closed so that it reconnects"
                );
                break;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => break,
        }
    }
    // The engine end stops once the console's end of the link is gone.
    drop(link);
    if let Err(error) = end.await {
        tracing::error!(%error, "serve: a console's engine end failed");
    }
}

/// One event as an SSE frame: a single `data:` line (JSON has no raw line
/// breaks) and the blank line that ends the event.
fn data_frame(event: &Event) -> Option<Bytes> {
    match serde_json::to_string(event) {
        Ok(json) => Some(Bytes::from(format!("data: {json}\n\n"))),
        Err(error) => {
            tracing::error!(%error, "serve: an event could not be written as JSON");
            None
        }
    }
}

/// The response body of `GET /api/v1/events`: the frames as they come; it
/// ends when the stream's task does.
pub(super) struct SseBody {
    frames: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames
            .poll_recv(cx)
            .map(|frame| frame.map(|data| Ok(Frame::data(data))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_data_line() {
        let event = Event::RequestFailed {
            request: crate::console::RequestId(3),
            reason: "line one\nline two".into(),
        };
        let frame = data_frame(&event).unwrap();
        let text = std::str::from_utf8(&frame).unwrap();
        assert_eq!(
            text,
            "data: {\"type\":\"request_failed\",\"data\":{\"request\":3,\"reason\":\"line one\\nline two\"}}\n\n"
        );
    }
}

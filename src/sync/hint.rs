//! The optional push endpoint: a business rule on `incident` POSTs here
//! when a record changes. The body is not trusted or even read beyond its
//! size: a hint only makes the poller run now; the poll stays the truth.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::gsem::shared::Shutdown;

/// Larger bodies are refused (413); a hint needs a sys_id at most.
const BODY_LIMIT: usize = 64 * 1024;

/// The router answering `POST path` with 202 and a wake-up of the poller.
pub fn router(path: &str, hint: Arc<Notify>) -> Router {
    Router::new()
        .route(
            path,
            post(move || {
                let hint = Arc::clone(&hint);
                async move {
                    hint.notify_one();
                    StatusCode::ACCEPTED
                }
            }),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// Listens on `listen` until shutdown. Returns once the port is bound.
pub async fn serve(
    listen: SocketAddr,
    path: &str,
    hint: Arc<Notify>,
    mut shutdown: Shutdown,
) -> Result<(SocketAddr, JoinHandle<()>), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(path, hint);
    let task = tokio::spawn(async move {
        let stop = async move {
            // Either a `true` or the sender going away ends the server.
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "ServiceNow hint endpoint stopped");
        }
    });
    Ok((addr, task))
}

//! The accept loop: one router served over plain TCP or TLS, with an outage
//! mode that really refuses connections (the listener is closed and later
//! re-bound on the same port) rather than leaving them hanging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub(crate) async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    mut refuse: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut listener = Some(listener);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if *refuse.borrow_and_update() {
            listener = None;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = refuse.changed() => continue,
            }
        }
        let Some(active) = listener.as_ref() else {
            match TcpListener::bind(addr).await {
                Ok(bound) => listener = Some(bound),
                Err(error) => {
                    tracing::warn!(%addr, %error, "ServiceNow simulator cannot re-bind its port yet");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            continue;
        };
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = refuse.changed() => {}
            accepted = active.accept() => match accepted {
                Ok((stream, _)) => {
                    let app = app.clone();
                    let acceptor = acceptor.clone();
                    let kill = (shutdown.clone(), refuse.clone());
                    tokio::spawn(async move {
                        match acceptor {
                            None => connection(stream, app, kill).await,
                            Some(acceptor) => match acceptor.accept(stream).await {
                                Ok(stream) => connection(stream, app, kill).await,
                                Err(error) => tracing::debug!(%error, "TLS handshake with the ServiceNow simulator failed"),
                            },
                        }
                    });
                }
                Err(error) => tracing::debug!(%error, "ServiceNow simulator accept failed"),
            },
        }
    }
}

/// Serves one connection until it ends, the server shuts down, or an outage
/// refuses service (which drops the connection on the floor).
async fn connection<S>(
    stream: S,
    app: Router,
    (mut shutdown, mut refuse): (watch::Receiver<bool>, watch::Receiver<bool>),
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(error) = result {
                tracing::debug!(%error, "ServiceNow simulator connection ended with an error");
            }
        }
        _ = shutdown.wait_for(|s| *s) => {}
        _ = refuse.wait_for(|r| *r) => {}
    }
}

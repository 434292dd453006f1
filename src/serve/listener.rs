//! The API's socket: HTTPS (or, opted in on loopback, plain HTTP), one
//! task per connection, all ended together at shutdown.
//!
//! On the HTTPS port, a client that speaks plain HTTP gets one short plain
//! answer saying to use https, and nothing of the API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use chrono::Utc;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::ServeError;
use crate::console::wire::ApiError;
use crate::gsem::pem::CheckedIdentity;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to finish its request at shutdown.
const GRACE: Duration = Duration::from_secs(5);
/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// The HTTPS set-up of the API, from `[serve]`'s certificate and key,
/// checked as GSEM's are (readable, matching, valid now).
pub(super) fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<TlsAcceptor, ServeError> {
    let identity = CheckedIdentity::load(cert, key, Utc::now())?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(identity.certs, identity.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub(super) async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves `router` on `listener` until `shutdown`; the task ends once
/// every connection has.
pub(super) fn spawn(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "serve: accept failed");
                        continue;
                    }
                },
            };
            connections.spawn(connection(
                stream,
                peer,
                tls.clone(),
                router.clone(),
                shutdown.clone(),
            ));
        }
        while connections.join_next().await.is_some() {}
    })
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(acceptor) = tls else {
        return serve_http(stream, peer, router, shutdown).await;
    };
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] != TLS_HANDSHAKE => Err(Some(stream)),
            Ok(1) => acceptor.accept(stream).await.map_err(|e| {
                tracing::debug!(%peer, error = %e, "serve: TLS handshake failed");
                None
            }),
            _ => Err(None),
        }
    };
    let tls = tokio::select! {
        _ = shutdown.changed() => return,
        done = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(Some(plain))) => return refuse_plain(plain, peer).await,
            Ok(Err(None)) | Err(_) => return,
        },
    };
    serve_http(tls, peer, router, shutdown).await;
}

async fn serve_http<I>(io: I, peer: SocketAddr, router: Router, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "serve: connection ended");
            }
        }
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GRACE, connection).await;
        }
    }
}

/// Plain HTTP sent to the HTTPS port: one answer naming the fix, then close.
async fn refuse_plain(mut stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "serve: plain HTTP on the HTTPS port refused");
    let body = serde_json::to_string(&ApiError {
        error: "this port speaks HTTPS only: use an https:// URL".into(),
    })
    .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // Read what the client sent first, so that closing does not reset the
    // connection before it has read the answer.
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

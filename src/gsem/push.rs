//! Push mode (spec §5): the HTTPS endpoint GSEM POSTs HPE's messages to.
//!
//! The caller is authenticated first (client certificate, basic auth or a
//! bearer token, per config); without that the answer is 401, counted and
//! not stored. Every authenticated body within the limit is committed to the
//! inbox before it is answered 2xx, whether or not it parses, so one bad
//! message cannot block GSEM's queue. A body over the limit gets 413, and
//! its size, SHA-256 and first 64 KiB go to quarantine.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use chrono::Utc;
use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::health::Health;
use super::pem::{CheckedIdentity, TlsFileError, load_ca_bundle};
use super::shared::{SharedStore, Shutdown, from_ms, now_ms, with_store};
use crate::config::{CallerAuth, Webhook};
use crate::sis::peek_message_id;
use crate::store::prelude::*;
use crate::store::{NewQuarantine, StoreError, Via};

/// How much of an oversized body is kept in quarantine.
pub const OVERSIZED_KEEP: usize = 64 * 1024;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    File(#[from] TlsFileError),
    #[error("cannot build the webhook's TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("the webhook's client CA {}: {why}", path.display())]
    ClientCa {
        path: std::path::PathBuf,
        why: String,
    },
    #[error(
        "cannot listen on {addr} for GSEM's webhook: {source}; check [gsem.<env>.webhook] listen"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound push receiver.
#[derive(Debug)]
pub struct PushReceiver {
    pub local_addr: SocketAddr,
    pub task: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    store: SharedStore,
    auth: CallerAuth,
    body_limit: u64,
    inbox_wake: Arc<Notify>,
    health: Health,
}

/// Per connection: whether the TLS client presented a certificate that
/// the verifier accepted.
#[derive(Clone)]
struct Conn {
    shared: Shared,
    client_cert: bool,
}

impl PushReceiver {
    /// Checks the listener's certificate and key, binds, and starts serving.
    pub async fn bind(
        webhook: &Webhook,
        body_limit: u64,
        store: SharedStore,
        inbox_wake: Arc<Notify>,
        health: Health,
        shutdown: Shutdown,
    ) -> Result<PushReceiver, PushError> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(webhook)?));
        let listener =
            TcpListener::bind(webhook.listen)
                .await
                .map_err(|source| PushError::Bind {
                    addr: webhook.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| PushError::Bind {
            addr: webhook.listen,
            source,
        })?;
        let shared = Shared {
            store,
            auth: webhook.auth.clone(),
            body_limit,
            inbox_wake,
            health,
        };
        let path = webhook.path.clone();
        let task = tokio::spawn(accept_loop(listener, acceptor, shared, path, shutdown));
        Ok(PushReceiver { local_addr, task })
    }
}

fn server_config(webhook: &Webhook) -> Result<rustls::ServerConfig, PushError> {
    let identity = CheckedIdentity::load(&webhook.tls_cert, &webhook.tls_key, Utc::now())?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &webhook.auth {
        CallerAuth::ClientCert { ca } => {
            let (_, certs) = load_ca_bundle(ca)?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots.add(cert).map_err(|e| PushError::ClientCa {
                    path: ca.clone(),
                    why: e.to_string(),
                })?;
            }
            // Without a certificate the handshake still succeeds, so that
            // the caller gets (and we count) a 401 rather than a TLS alert.
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| PushError::ClientCa {
                    path: ca.clone(),
                    why: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        CallerAuth::Basic { .. } | CallerAuth::Bearer { .. } => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(identity.certs, identity.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts connections until shutdown, then waits for every connection
/// task: each holds the store, so once this returns nothing of the receiver
/// keeps the store (and its engine lock) open.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Shared,
    path: String,
    mut shutdown: Shutdown,
) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            // Reap finished connections so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "gsem webhook: accept failed");
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            acceptor.clone(),
            shared.clone(),
            path.clone(),
            shutdown.clone(),
        ));
    }
    // Every connection task watches the same signal and ends at once.
    while connections.join_next().await.is_some() {}
}

/// One connection: the TLS handshake, then HTTP/1.1 until it closes or the
/// engine stops. Stopping mid-request is safe: a body is answered only once
/// committed, so GSEM delivers an unanswered one again.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Shared,
    path: String,
    mut shutdown: Shutdown,
) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let tls = tokio::select! {
        _ = shutdown.changed() => return,
        handshake = handshake => match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "gsem webhook: TLS handshake failed");
                return;
            }
            Err(_) => return,
        },
    };
    let client_cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .is_some_and(|c| !c.is_empty());
    let router = Router::new().route(&path, post(receive)).with_state(Conn {
        shared,
        client_cert,
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router));
    tokio::select! {
        served = connection => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "gsem webhook: connection ended");
            }
        }
        _ = shutdown.changed() => {}
    }
}

async fn receive(State(conn): State<Conn>, headers: HeaderMap, body: Body) -> Response {
    let shared = conn.shared;
    if !authenticated(&shared.auth, conn.client_cert, &headers) {
        shared.health.update(|h| h.inbound.unauthenticated += 1);
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        if !matches!(shared.auth, CallerAuth::ClientCert { .. }) {
            let challenge = match shared.auth {
                CallerAuth::Bearer { .. } => "Bearer",
                _ => "Basic realm=\"casebridge\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static(challenge),
            );
        }
        return response;
    }
    let read = match read_limited(body, shared.body_limit).await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(error = %e, "gsem webhook: body not received in full");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    let now = now_ms();
    let result = match read {
        Read::Whole(raw) => commit(&shared, raw, now).await,
        Read::Oversized { head, size, sha256 } => oversized(&shared, head, size, sha256, now).await,
    };
    match result {
        Ok(status) => status.into_response(),
        Err(e) => {
            // Not committed: GSEM must deliver it again.
            tracing::error!(error = %e, "gsem webhook: cannot commit a delivery");
            shared
                .health
                .update(|h| h.inbound.last_error = Some(format!("store: {e}")));
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn authenticated(auth: &CallerAuth, client_cert: bool, headers: &HeaderMap) -> bool {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match auth {
        CallerAuth::ClientCert { .. } => client_cert,
        CallerAuth::Bearer { token } => authorization
            .strip_prefix("Bearer ")
            .is_some_and(|given| token.matches(given.trim())),
        CallerAuth::Basic { user, password } => authorization
            .strip_prefix("Basic ")
            .and_then(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|pair| {
                pair.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
            .is_some_and(|(u, p)| u == *user && password.matches(&p)),
    }
}

enum Read {
    Whole(Vec<u8>),
    Oversized {
        head: Vec<u8>,
        size: u64,
        sha256: String,
    },
}

/// Reads the body; past `limit` it keeps reading only to measure and hash
/// the whole, keeping its first [`OVERSIZED_KEEP`] bytes.
async fn read_limited(mut body: Body, limit: u64) -> Result<Read, axum::Error> {
    let mut kept = Vec::new();
    let mut size: u64 = 0;
    let mut hasher = Sha256::new();
    let mut over = false;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        size += data.len() as u64;
        hasher.update(&data);
        if !over && size > limit {
            over = true;
            kept.truncate(OVERSIZED_KEEP);
        }
        let room = if over {
            OVERSIZED_KEEP.saturating_sub(kept.len())
        } else {
            data.len()
        };
        kept.extend_from_slice(&data[..room.min(data.len())]);
    }
    if over {
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Read::Oversized {
            head: kept,
            size,
            sha256,
        })
    } else {
        Ok(Read::Whole(kept))
    }
}

async fn commit(shared: &Shared, raw: Vec<u8>, now: i64) -> Result<StatusCode, StoreError> {
    let message_id = peek_message_id(&raw);
    with_store(&shared.store, move |s| {
        s.inbox_insert(message_id.as_deref(), &raw, Via::Push, now)
    })
    .await?;
    shared.inbox_wake.notify_one();
    let at = from_ms(now);
    shared.health.update(|h| {
        h.inbound.last_received_at = Some(at);
        h.inbound.oversized_alert = None;
    });
    Ok(StatusCode::OK)
}

async fn oversized(
    shared: &Shared,
    head: Vec<u8>,
    size: u64,
    sha256: String,
    now: i64,
) -> Result<StatusCode, StoreError> {
    let limit = shared.body_limit;
    let reason = format!(
        "body of {size} bytes over the inbound limit of {limit} bytes: raise inbound_body_limit and restart"
    );
    let message_id = head_message_id(&head);
    tracing::error!(size, limit, %sha256, ?message_id, "gsem webhook: oversized message refused with 413");
    with_store(&shared.store, move |s| {
        s.transaction(|tx| {
            // GSEM redelivers it with the next `DeliveryCount`: other bytes,
            // the same message. Its first entry counts the delivery, under
            // the first delivery's digest.
            let first = match &message_id {
                Some(id) => tx
                    .quarantine_oversized()?
                    .into_iter()
                    .find(|entry| head_message_id(&entry.raw).as_ref() == Some(id))
                    .map(|entry| entry.sha256),
                None => None,
            };
            tx.quarantine_insert(
                &NewQuarantine {
                    raw: &head,
                    size,
                    sha256: first.unwrap_or(sha256),
                    reason: &reason,
                    inbox_id: None,
                },
                now,
            )
        })
    })
    .await?;
    let since = crate::sis::date::format(from_ms(now));
    shared.health.update(|h| {
        if h.inbound.oversized_alert.is_none() {
            h.inbound.oversized_alert = Some(format!(
                "inbound queue blocked by an oversized message since {since}"
            ));
        }
    });
    Ok(StatusCode::PAYLOAD_TOO_LARGE)
}

/// `QueueDetails.MessageId` from the first bytes of a body: the members of
/// the top-level object are read in order until it is found, so the cut
/// inside a later, large `Message` does not matter. `None` when the bytes
/// end (or stop being JSON) before it.
fn head_message_id(head: &[u8]) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(head);
    // The error at the cut is expected; only what was found before counts.
    let _ = serde::Deserializer::deserialize_map(&mut de, UntilMessageId(&mut found));
    found
}

struct UntilMessageId<'a>(&'a mut Option<String>);

#[derive(serde::Deserialize)]
struct QueueId {
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
}

impl<'de> serde::de::Visitor<'de> for UntilMessageId<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a GSEM delivery object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "QueueDetails" {
                *self.0 = map.next_value::<QueueId>()?.message_id;
                return Ok(());
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::sim::pki::TestPki;
    use crate::store::{QuarantineState, Role, Store};

    const NOTE: &str = include_str!("../../assets/samples/03-note-from-hpe.json");

    struct Endpoint {
        url: String,
        client: reqwest::Client,
        store: SharedStore,
        health: Health,
        stop: tokio::sync::watch::Sender<bool>,
        _dir: tempfile::TempDir,
        pki: TestPki,
    }

    async fn endpoint(auth: CallerAuth, limit: u64) -> Endpoint {
        crate::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate("gsem.test").unwrap();
        let paths = pki.write_to(dir.path()).unwrap();
        let auth = match auth {
            CallerAuth::ClientCert { .. } => CallerAuth::ClientCert {
                ca: paths.ca.cert.clone(),
            },
            other => other,
        };
        let webhook = Webhook {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            path: "/gsem/message".into(),
            tls_cert: paths.server.cert.clone(),
            tls_key: paths.server.key.clone(),
            auth,
        };
        let store: SharedStore = Arc::new(std::sync::Mutex::new(
            Store::open(&dir.path().join("cases.db"), Role::Tool).unwrap(),
        ));
        let health = Health::new();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let receiver = PushReceiver::bind(
            &webhook,
            limit,
            Arc::clone(&store),
            Arc::new(Notify::new()),
            health.clone(),
            shutdown,
        )
        .await
        .unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(pki.ca.cert().cert_pem().as_bytes()).unwrap(),
            ])
            .build()
            .unwrap();
        Endpoint {
            url: format!(
                "https://127.0.0.1:{}/gsem/message",
                receiver.local_addr.port()
            ),
            client,
            store,
            health,
            stop,
            _dir: dir,
            pki,
        }
    }

    impl Endpoint {
        fn inbox(&self, id: i64) -> Option<crate::store::InboxRow> {
            self.store.lock().unwrap().inbox_get(id).unwrap()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bearer_auth_commits_then_answers_and_refuses_strangers() {
        let e = endpoint(
            CallerAuth::Bearer {
                token: Secret::new("t0ken"),
            },
            1024 * 1024,
        )
        .await;
        let anonymous = e.client.post(&e.url).body(NOTE).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        let wrong = e
            .client
            .post(&e.url)
            .bearer_auth("nope")
            .body(NOTE)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert_eq!(e.health.snapshot().inbound.unauthenticated, 2);
        assert_eq!(e.inbox(1), None);

        let ok = e
            .client
            .post(&e.url)
            .bearer_auth("t0ken")
            .body(NOTE)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let row = e.inbox(1).unwrap();
        assert_eq!(row.raw, NOTE.as_bytes());
        assert_eq!(row.message_id.as_deref(), Some("q-000117"));
        assert_eq!(row.via, Via::Push);

        // Garbage from an authenticated caller is committed too, and answered 2xx.
        let junk = e
            .client
            .post(&e.url)
            .bearer_auth("t0ken")
            .body("\u{0}junk")
            .send()
            .await
            .unwrap();
        assert_eq!(junk.status().as_u16(), 200);
        assert_eq!(e.inbox(2).unwrap().raw, "\u{0}junk".as_bytes());
        e.stop.send(true).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_oversized_body_gets_413_and_its_head_is_quarantined() {
        let e = endpoint(
            CallerAuth::Basic {
                user: "gsem".into(),
                password: Secret::new("pw"),
            },
            100 * 1024,
        )
        .await;
        let body = "x".repeat(300 * 1024);
        for _ in 0..2 {
            let reply = e
                .client
                .post(&e.url)
                .basic_auth("gsem", Some("pw"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), 413);
        }
        let entries = e
            .store
            .lock()
            .unwrap()
            .quarantine_list(QuarantineState::Open)
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].size, 300 * 1024);
        assert_eq!(entries[0].raw.len(), OVERSIZED_KEEP);
        assert_eq!(entries[0].delivery_count, 2);
        assert_eq!(
            entries[0].sha256,
            crate::store::NewQuarantine::whole(body.as_bytes(), "", None).sha256
        );
        let alert = e.health.snapshot().inbound.oversized_alert.unwrap();
        assert!(
            alert.starts_with("inbound queue blocked by an oversized message since "),
            "{alert}"
        );
        assert_eq!(e.inbox(1), None);

        let ok = e
            .client
            .post(&e.url)
            .basic_auth("gsem", Some("pw"))
            .body(NOTE)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(e.health.snapshot().inbound.oversized_alert, None);
        let bad = e
            .client
            .post(&e.url)
            .basic_auth("gsem", Some("wrong"))
            .body(NOTE)
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), 401);
        e.stop.send(true).unwrap();
    }

    /// A pushed note of about `size` bytes, as GSEM delivers it.
    fn big_delivery(message_id: &str, delivery_count: u32, size: usize) -> String {
        format!(
            r#"{{"QueueDetails": {{"MessageId": "{message_id}", "DeliveryCount": {delivery_count}}}, "Message": {{"TransactionName": "PROVIDE PROBLEM INFORMATION", "SERVICE_INCIDENT": {{"Comment": "{}"}}}}}}"#,
            "y".repeat(size)
        )
    }

    #[test]
    fn the_message_id_is_read_from_the_head_of_a_cut_body() {
        let body = big_delivery("q-9", 4, 200 * 1024);
        assert_eq!(
            head_message_id(&body.as_bytes()[..1024]).as_deref(),
            Some("q-9")
        );
        assert_eq!(head_message_id(body.as_bytes()).as_deref(), Some("q-9"));
        // Behind the cut, or absent: not found.
        let late = format!(
            r#"{{"Message": {{"Comment": "{}"}}, "QueueDetails": {{"MessageId": "q-10"}}}}"#,
            "y".repeat(4096)
        );
        assert_eq!(head_message_id(&late.as_bytes()[..1024]), None);
        assert_eq!(head_message_id(late.as_bytes()).as_deref(), Some("q-10"));
        assert_eq!(head_message_id(b"{\"QueueDetails\": {}}"), None);
        assert_eq!(head_message_id(b"not json"), None);
        assert_eq!(head_message_id(b""), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redeliveries_of_an_oversized_message_share_one_entry() {
        let e = endpoint(
            CallerAuth::Bearer {
                token: Secret::new("t0ken"),
            },
            100 * 1024,
        )
        .await;
        let post = |body: String| e.client.post(&e.url).bearer_auth("t0ken").body(body).send();
        let first = big_delivery("q-big", 1, 200 * 1024);
        for count in 1..=3 {
            let reply = post(big_delivery("q-big", count, 200 * 1024))
                .await
                .unwrap();
            assert_eq!(reply.status().as_u16(), 413);
        }
        let other = post(big_delivery("q-other", 1, 200 * 1024)).await.unwrap();
        assert_eq!(other.status().as_u16(), 413);
        let entries = e
            .store
            .lock()
            .unwrap()
            .quarantine_list(QuarantineState::Open)
            .unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0].delivery_count, 3);
        assert_eq!(
            entries[0].sha256,
            crate::store::NewQuarantine::whole(first.as_bytes(), "", None).sha256
        );
        assert_eq!(head_message_id(&entries[0].raw).as_deref(), Some("q-big"));
        assert_eq!(entries[1].delivery_count, 1);
        assert_eq!(head_message_id(&entries[1].raw).as_deref(), Some("q-other"));
        e.stop.send(true).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_certificates_authenticate_and_their_absence_is_a_401() {
        let e = endpoint(
            CallerAuth::ClientCert {
                ca: "unused".into(),
            },
            1024 * 1024,
        )
        .await;
        let anonymous = e.client.post(&e.url).body(NOTE).send().await.unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        assert_eq!(e.health.snapshot().inbound.unauthenticated, 1);
        let with_cert = reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(e.pki.ca.cert().cert_pem().as_bytes()).unwrap(),
            ])
            .identity(reqwest::Identity::from_pem(&e.pki.client.identity_pem()).unwrap())
            .build()
            .unwrap();
        let ok = with_cert.post(&e.url).body(NOTE).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(e.inbox(1).unwrap().raw, NOTE.as_bytes());
        e.stop.send(true).unwrap();
    }
}

//! The listener: TLS with client certificates, and the outages it can fake.
//!
//! Faults act at the layer a real outage would: a refused connection is a
//! closed port (the listener is dropped and later re-bound on the same port),
//! a reset is an RST right after accept, a hang is a socket that is accepted
//! and never read. Only `503` is an HTTP answer, given by the router.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::GsemSimError;

/// An outage the simulator can be told to fake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Healthy.
    None,
    /// The port is closed: connects fail with ECONNREFUSED.
    RefuseConnections,
    /// Every request is answered 503, with `Retry-After` when given (seconds).
    Unavailable503 { retry_after: Option<u64> },
    /// Connections are accepted and never answered (not even the TLS handshake).
    Hang,
    /// Connections are accepted and closed at once with a TCP reset.
    Reset,
    /// Down (refusing connections) for `period`, then up for `period`, and so on.
    Flap {
        #[serde(with = "millis")]
        period: Duration,
    },
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A fault and when it was set (a flap's phase counts from then).
#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    pub fault: Fault,
    pub since: Instant,
}

impl FaultState {
    pub fn new(fault: Fault) -> Self {
        Self {
            fault,
            since: Instant::now(),
        }
    }

    /// The fault in force at `now` (never `Flap`), and how long it stays so
    /// (`None`: until the fault is changed).
    pub fn effective(&self, now: Instant) -> (Fault, Option<Duration>) {
        match &self.fault {
            Fault::Flap { period } if !period.is_zero() => {
                let elapsed = now.saturating_duration_since(self.since).as_nanos();
                let period_ns = period.as_nanos();
                let phase = elapsed / period_ns;
                let left_ns = period_ns - elapsed % period_ns;
                let left = Duration::from_nanos(u64::try_from(left_ns).unwrap_or(u64::MAX));
                let fault = if phase.is_multiple_of(2) {
                    Fault::RefuseConnections
                } else {
                    Fault::None
                };
                (fault, Some(left))
            }
            // A flap of period zero would spin: it means "always down".
            Fault::Flap { .. } => (Fault::RefuseConnections, None),
            other => (other.clone(), None),
        }
    }
}

/// Binds `addr` so that the same port can be bound again right after the
/// listener is dropped (SO_REUSEADDR), which is how recovery keeps the port.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, GsemSimError> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|source| GsemSimError::Bind { addr, source })?;
    socket
        .set_reuseaddr(true)
        .map_err(|source| GsemSimError::Bind { addr, source })?;
    socket
        .bind(addr)
        .map_err(|source| GsemSimError::Bind { addr, source })?;
    socket
        .listen(1024)
        .map_err(|source| GsemSimError::Bind { addr, source })
}

/// Serves one accepted connection: TLS handshake (the server config decides
/// whether a client certificate is required), then HTTP/1.1 until the peer
/// closes, `kill` changes (an outage started) or the simulator stops.
pub(crate) fn spawn_connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    router: Router,
    mut kill: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let serve = async {
            // A client that connects and never handshakes must not hold a
            // task for ever.
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "gsem sim: TLS handshake refused");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(router);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(error = %e, "gsem sim: connection ended with an error");
            }
        };
        tokio::select! {
            () = serve => {}
            _ = kill.changed() => {}
            _ = shutdown.changed() => {}
        }
    });
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait before trying again to re-bind a port someone else holds.
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// The fault-aware accept loop of the GSEM listener.
pub(crate) struct AcceptLoop {
    pub addr: SocketAddr,
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
    pub router: Router,
    pub faults: watch::Receiver<FaultState>,
    pub shutdown: watch::Receiver<bool>,
}

impl AcceptLoop {
    pub async fn run(self) {
        let Self {
            addr,
            listener,
            acceptor,
            router,
            mut faults,
            mut shutdown,
        } = self;
        let mut listener = Some(listener);
        // Bumped whenever the effective fault changes, so that kept-alive
        // connections see an outage the way new ones do.
        let (kill_tx, _) = watch::channel(0u64);
        let mut last = Fault::None;
        loop {
            let (effective, until_change) = faults.borrow().effective(Instant::now());
            if effective != last {
                kill_tx.send_modify(|generation| *generation += 1);
                last = effective.clone();
            }
            if effective == Fault::RefuseConnections {
                listener = None;
            } else if listener.is_none() {
                match bind(addr) {
                    Ok(l) => listener = Some(l),
                    Err(e) => {
                        tracing::warn!(error = %e, "gsem sim: cannot re-bind yet");
                        tokio::select! {
                            () = tokio::time::sleep(REBIND_RETRY) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = faults.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = sleep_opt(until_change) => {}
                accepted = accept_opt(listener.as_ref()) => match accepted {
                    Ok((stream, _peer)) => match effective {
                        Fault::Reset => reset(stream),
                        Fault::Hang => hang(stream, kill_tx.subscribe(), shutdown.clone()),
                        _ => spawn_connection(
                            stream,
                            acceptor.clone(),
                            router.clone(),
                            kill_tx.subscribe(),
                            shutdown.clone(),
                        ),
                    },
                    Err(e) => tracing::warn!(error = %e, "gsem sim: accept failed"),
                },
            }
        }
    }
}

/// The plain accept loop of the admin listener: no faults.
pub(crate) async fn run_admin(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let (_kill_tx, kill_rx) = watch::channel(0u64);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(
                    stream,
                    acceptor.clone(),
                    router.clone(),
                    kill_rx.clone(),
                    shutdown.clone(),
                ),
                Err(e) => tracing::warn!(error = %e, "gsem sim admin: accept failed"),
            },
        }
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

async fn accept_opt(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 turns the close into an RST, which is what a crashed
    // load balancer or a middlebox dropping state looks like to the client.
    if let Err(e) = stream.set_zero_linger() {
        tracing::warn!(error = %e, "gsem sim: cannot set SO_LINGER 0; closing normally");
    }
    drop(stream);
}

fn hang(stream: TcpStream, mut kill: watch::Receiver<u64>, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        tokio::select! {
            _ = kill.changed() => {}
            _ = shutdown.changed() => {}
        }
        drop(stream);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flap_starts_down_and_alternates_each_period() {
        let start = Instant::now();
        let state = FaultState {
            fault: Fault::Flap {
                period: Duration::from_millis(100),
            },
            since: start,
        };
        let (f, left) = state.effective(start + Duration::from_millis(30));
        assert_eq!(f, Fault::RefuseConnections);
        assert_eq!(left, Some(Duration::from_millis(70)));
        let (f, left) = state.effective(start + Duration::from_millis(150));
        assert_eq!(f, Fault::None);
        assert_eq!(left, Some(Duration::from_millis(50)));
        assert_eq!(
            state.effective(start + Duration::from_millis(200)).0,
            Fault::RefuseConnections
        );
    }

    #[test]
    fn faults_read_from_json() {
        let f: Fault = serde_json::from_str(r#"{"kind": "flap", "period": 250}"#).unwrap();
        assert_eq!(
            f,
            Fault::Flap {
                period: Duration::from_millis(250)
            }
        );
        let f: Fault =
            serde_json::from_str(r#"{"kind": "unavailable503", "retry_after": 2}"#).unwrap();
        assert_eq!(
            f,
            Fault::Unavailable503 {
                retry_after: Some(2)
            }
        );
    }
}

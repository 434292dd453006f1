//! `casebridge serve`: the engine headless, plus the console API of
//! [`crate::console::wire`] over HTTPS for the operators' remote consoles,
//! the scripting CLI and a metrics scraper.
//!
//! Each session's event stream runs its own console engine end (as the
//! embedded console does), so a remote console sees exactly what a local
//! one would. Stopping closes the streams first, then the engine.

mod api;
mod auth;
mod listener;
mod metrics;
mod stream;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use api::REQUEST_BODY_LIMIT;
pub use auth::{FAILURE_DELAY, FREE_FAILURES};

use crate::config::{Settings, Transport};
use crate::engine::{Engine, EngineError, StoreKind};
use crate::gsem::pem::TlsFileError;
use crate::logging;

/// How long [`Server::stop`] waits for the last handler to let go.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Why the console API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "the config has no [serve] section, so there is no console API to start: add one (config.example.toml shows it)"
    )]
    NotConfigured,
    #[error("serve.tls_cert / serve.tls_key: {0}")]
    TlsFile(#[from] TlsFileError),
    #[error(
        "cannot build the console API's TLS configuration: {0}; check serve.tls_cert and serve.tls_key"
    )]
    Tls(#[from] rustls::Error),
    #[error(
        "cannot listen on {addr} for the console API: {source}; free the port or change serve.listen"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] EngineError),
}

/// The console API, running beside its engine.
pub struct Server {
    local_addr: SocketAddr,
    tls: bool,
    api: Arc<api::Api>,
    shutdown: watch::Sender<bool>,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves the API of `settings.serve` for `engine`. The server owns the
    /// engine from here on and stops it in [`Server::stop`]; if the API
    /// cannot start, the engine is stopped before the error is returned.
    pub async fn start(settings: &Settings, engine: Engine) -> Result<Server, ServeError> {
        match Self::bind(settings, engine).await {
            Ok(server) => Ok(server),
            Err((error, engine)) => {
                engine.stop().await;
                Err(error)
            }
        }
    }

    async fn bind(settings: &Settings, engine: Engine) -> Result<Server, (ServeError, Engine)> {
        let Some(serve) = &settings.serve else {
            return Err((ServeError::NotConfigured, engine));
        };
        let tls = match &serve.transport {
            Transport::Tls { cert, key } => match listener::tls_acceptor(cert, key) {
                Ok(acceptor) => Some(acceptor),
                Err(e) => return Err((e, engine)),
            },
            Transport::PlainLoopback => None,
        };
        let socket = match listener::bind(serve.listen).await {
            Ok(socket) => socket,
            Err(e) => return Err((e, engine)),
        };
        let local_addr = match socket.local_addr() {
            Ok(addr) => addr,
            Err(source) => {
                return Err((
                    ServeError::Bind {
                        addr: serve.listen,
                        source,
                    },
                    engine,
                ));
            }
        };
        if serve.users.is_empty() {
            tracing::warn!("serve: no [[serve.users]] configured, so nobody can log in");
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let api = Arc::new(api::Api {
            settings: settings.clone(),
            engine,
            users: auth::Users::new(&serve.users),
            sessions: auth::Sessions::new(serve.session_idle),
            metrics_public: serve.metrics_public,
            shutdown: shutdown_rx.clone(),
            streams: Mutex::new(Vec::new()),
        });
        let is_tls = tls.is_some();
        let listener = listener::spawn(socket, tls, api::router(Arc::clone(&api)), shutdown_rx);
        tracing::info!(
            addr = %local_addr,
            scheme = if is_tls { "https" } else { "http" },
            "console API listening"
        );
        Ok(Server {
            local_addr,
            tls: is_tls,
            api,
            shutdown,
            listener,
        })
    }

    /// Where the API listens (the port chosen when `listen` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The API's base URL, `https://127.0.0.1:PORT` style.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// The engine the API serves.
    pub fn engine(&self) -> &Engine {
        &self.api.engine
    }

    /// Closes every event stream and connection, ends the sessions, then
    /// stops the engine (which finishes or safely abandons the message in
    /// flight).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        self.api.sessions.close_all();
        if let Err(e) = self.listener.await {
            tracing::error!(error = %e, "serve: the listener failed while stopping");
        }
        for stream in self.api.take_streams() {
            if let Err(e) = stream.await {
                tracing::error!(error = %e, "serve: an event stream failed while stopping");
            }
        }
        // Every connection and stream has ended, so nothing else holds the
        // API for more than a moment.
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        let mut api = self.api;
        let engine = loop {
            match Arc::try_unwrap(api) {
                Ok(api) => break api.engine,
                Err(shared) if tokio::time::Instant::now() < deadline => {
                    api = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(_) => {
                    tracing::error!(
                        "serve: the API is still in use {STOP_WAIT:?} after it stopped; the engine's tasks end with the process"
                    );
                    return;
                }
            }
        };
        engine.stop().await;
        tracing::info!("console API stopped");
    }
}

/// `casebridge serve`: logs to the data dir's file and stderr, starts the
/// engine and (with a `[serve]` section) the console API, and runs until
/// SIGTERM or Ctrl-C; then it stops the API, then the engine. A signal
/// that comes while starting stops it as soon as it has started.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let log_dir = settings.paths().data_dir.join("logs");
    let _log = logging::init(&log_dir, &settings.log.filter, logging::Sink::FileAndStderr)?;
    let stop = StopSignal::listen()?;
    let engine = Engine::start(&settings, StoreKind::Real).await?;
    if let Some(addr) = engine.push_addr() {
        tracing::info!(%addr, "GSEM push receiver listening");
    }
    if settings.serve.is_none() {
        tracing::warn!("no [serve] section in the config: the engine runs without the console API");
        let waited = stop.wait().await;
        tracing::info!("stopping");
        engine.stop().await;
        return Ok(waited?);
    }
    let server = Server::start(&settings, engine).await?;
    let waited = stop.wait().await;
    tracing::info!("stopping");
    server.stop().await;
    Ok(waited?)
}

/// SIGTERM or Ctrl-C, listened for from the start.
struct StopSignal {
    term: tokio::signal::unix::Signal,
}

impl StopSignal {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignal {
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) -> std::io::Result<()> {
        tokio::select! {
            _ = self.term.recv() => {}
            result = tokio::signal::ctrl_c() => result?,
        }
        tracing::info!("stop signal received");
        Ok(())
    }
}

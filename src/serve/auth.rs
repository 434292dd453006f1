//! Who may call the API: `[[serve.users]]` logging in with HTTP Basic
//! (repeated failures for a name slow every later answer for it), and the
//! sessions their logins open, named by random bearer tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::{PasswordHash, Secret, ServeUser};
use crate::console::wire::SessionGranted;
use crate::console::{Request, RequestId};

/// Failed logins for one name answered at full speed; from the next one on,
/// every answer for that name waits [`FAILURE_DELAY`] first.
pub const FREE_FAILURES: u32 = 4;
/// The least each answer waits once a name has [`FREE_FAILURES`] failures.
pub const FAILURE_DELAY: Duration = Duration::from_secs(1);
/// Bytes of OS randomness in a token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Past this many tracked names, names not failing for [`FORGET_AFTER`] are
/// forgotten, so that guessing many names cannot grow the table for ever.
const MAX_TRACKED: usize = 10_000;
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last: Option<Instant>,
}

/// The configured users and the failure count of every name tried.
pub(super) struct Users {
    users: HashMap<String, ServeUser>,
    /// Verified for names that are no user, so that the answer takes as
    /// long as for a real one and does not tell which names exist.
    decoy: Option<PasswordHash>,
    failures: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Failures>>>>,
}

impl Users {
    pub fn new(users: &[ServeUser]) -> Self {
        Users {
            decoy: users.first().map(|u| u.password_hash.clone()),
            users: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The operator id `name` acts as, if `password` is theirs. Attempts for
    /// one name are taken one at a time, so that parallel guesses wait for
    /// each other's delay.
    pub async fn check(&self, name: &str, password: &str) -> Option<(String, String)> {
        let slot = self.slot(name);
        let mut failures = slot.lock().await;
        if failures.count >= FREE_FAILURES {
            tokio::time::sleep(FAILURE_DELAY).await;
        }
        let user = self.users.get(name).cloned();
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .or_else(|| self.decoy.clone());
        let password = password.to_owned();
        let matched = match hash {
            Some(hash) => tokio::task::spawn_blocking(move || hash.verify(&password))
                .await
                .unwrap_or(false),
            None => false,
        };
        match user.filter(|_| matched) {
            Some(user) => {
                *failures = Failures::default();
                Some((user.name, user.operator))
            }
            None => {
                failures.count = failures.count.saturating_add(1);
                failures.last = Some(Instant::now());
                if failures.count == FREE_FAILURES + 1 {
                    tracing::warn!(
                        user = name,
                        "serve: {} failed logins in a row; answers for this name are slowed",
                        failures.count
                    );
                }
                None
            }
        }
    }

    fn slot(&self, name: &str) -> Arc<tokio::sync::Mutex<Failures>> {
        let mut slots = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() >= MAX_TRACKED {
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().map_or(true, |f| {
                        f.last.is_some_and(|last| last.elapsed() < FORGET_AFTER)
                    })
            });
        }
        Arc::clone(slots.entry(name.to_owned()).or_default())
    }
}

/// Where a session's requests go while its event stream is open.
pub(super) struct StreamSlot {
    pub requests: mpsc::UnboundedSender<(RequestId, Request)>,
}

struct Session {
    token: Secret,
    user: String,
    operator: String,
    last_used: Instant,
    stream: Option<StreamSlot>,
}

impl Session {
    fn streaming(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| !s.requests.is_closed())
    }
}

/// A session found by its token.
#[derive(Debug, Clone)]
pub(super) struct SessionRef {
    key: [u8; 32],
    pub user: String,
    pub operator: String,
}

/// Why a request could not reach a session's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoStream {
    /// The session ended meanwhile.
    Gone,
    /// It has no open event stream.
    Closed,
}

/// The open sessions, by the SHA-256 of their token: the table never holds
/// a token itself, and finding one reveals nothing about others.
pub(super) struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expires_at(&self) -> chrono::DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX)
    }

    /// Opens a session for a user who just logged in.
    pub fn open(&self, user: String, operator: String) -> Result<SessionGranted, RandomFailed> {
        let token = random_token()?;
        let key = digest(&token);
        let mut map = self.map();
        let now = Instant::now();
        let idle = self.idle;
        map.retain(|_, s| s.streaming() || now.duration_since(s.last_used) < idle);
        map.insert(
            key,
            Session {
                token: Secret::new(token.clone()),
                user,
                operator: operator.clone(),
                last_used: now,
                stream: None,
            },
        );
        Ok(SessionGranted {
            token,
            operator,
            expires_at: self.expires_at(),
        })
    }

    /// The live session `token` names, its idle time restarted.
    pub fn find(&self, token: &str) -> Option<SessionRef> {
        let key = digest(token);
        let mut map = self.map();
        let now = Instant::now();
        let session = map.get_mut(&key)?;
        if !session.token.matches(token) {
            return None;
        }
        if !session.streaming() && now.duration_since(session.last_used) >= self.idle {
            map.remove(&key);
            return None;
        }
        session.last_used = now;
        Some(SessionRef {
            key,
            user: session.user.clone(),
            operator: session.operator.clone(),
        })
    }

    /// Gives the session a new stream; the previous one, if any, ends.
    pub fn attach(&self, session: &SessionRef, slot: StreamSlot) -> Result<(), NoStream> {
        let mut map = self.map();
        let found = map.get_mut(&session.key).ok_or(NoStream::Gone)?;
        found.stream = Some(slot);
        Ok(())
    }

    /// Hands a request to the session's stream.
    pub fn send(
        &self,
        session: &SessionRef,
        id: RequestId,
        request: Request,
    ) -> Result<(), NoStream> {
        let mut map = self.map();
        let found = map.get_mut(&session.key).ok_or(NoStream::Gone)?;
        let slot = found.stream.as_ref().ok_or(NoStream::Closed)?;
        if slot.requests.send((id, request)).is_err() {
            found.stream = None;
            return Err(NoStream::Closed);
        }
        Ok(())
    }

    /// Ends the session and its stream.
    pub fn close(&self, session: &SessionRef) {
        self.map().remove(&session.key);
    }

    /// Ends every session (the server is stopping).
    pub fn close_all(&self) {
        self.map().clear();
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error(
    "the system's random source failed, so no session token could be made: check /dev/urandom and retry"
)]
pub(super) struct RandomFailed;

fn random_token() -> Result<String, RandomFailed> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| RandomFailed)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn sessions_are_found_by_their_token_only_and_expire_when_idle() {
        let sessions = Sessions::new(Duration::from_millis(200));
        let granted = sessions.open("ada".into(), "ada-op".into()).unwrap();
        let found = sessions.find(&granted.token).unwrap();
        assert_eq!(
            (found.user.as_str(), found.operator.as_str()),
            ("ada", "ada-op")
        );
        assert!(sessions.find("not-a-token").is_none());
        let mut near = granted.token.clone();
        near.pop();
        assert!(sessions.find(&near).is_none());
        assert_eq!(
            sessions.send(&found, RequestId(1), Request::LoadIncidents),
            Err(NoStream::Closed)
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(sessions.find(&granted.token).is_none());
        assert_eq!(
            sessions.send(&found, RequestId(2), Request::LoadIncidents),
            Err(NoStream::Gone)
        );
    }

    #[test]
    fn an_open_stream_keeps_its_session_alive_and_gets_the_requests() {
        let sessions = Sessions::new(Duration::from_millis(100));
        let granted = sessions.open("ada".into(), "ada".into()).unwrap();
        let session = sessions.find(&granted.token).unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        sessions
            .attach(&session, StreamSlot { requests: tx })
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let session = sessions.find(&granted.token).unwrap();
        sessions
            .send(&session, RequestId(7), Request::LoadIncidents)
            .unwrap();
        assert_eq!(
            rx.try_recv().unwrap(),
            (RequestId(7), Request::LoadIncidents)
        );
        drop(rx);
        assert_eq!(
            sessions.send(&session, RequestId(8), Request::LoadIncidents),
            Err(NoStream::Closed)
        );
        sessions.close(&session);
        assert!(sessions.find(&granted.token).is_none());
    }
}

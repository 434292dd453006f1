#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `casebridge serve`'s console API on loopback over real TLS, with the
//! engine against the GSEM simulator (mutual TLS) and the ServiceNow
//! simulator: logins, the failure delay, plain HTTP, the event stream,
//! two sessions seeing each other's comment, and the metrics.

mod serve_rig;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use casebridge::config::{self, Transport};
use casebridge::console::wire::{
    ApiError, EVENTS_PATH, HEALTHZ_PATH, METRICS_PATH, REQUESTS_PATH, RequestEnvelope,
    SESSION_PATH, SessionGranted,
};
use casebridge::console::{
    CaseDetail, CaseId, CaseSummary, EntryStatus, Event, History, OpenCase, Origin, Priority,
    Request, RequestId,
};
use casebridge::engine::{Engine, StoreKind};
use casebridge::serve::Server;
use serve_rig::{ADA_PASSWORD, BOB_PASSWORD, Backends, write_private};

const WAIT: Duration = Duration::from_secs(20);

struct Rig {
    backends: Backends,
    server: Server,
    url: String,
    client: reqwest::Client,
}

impl Rig {
    async fn start() -> Rig {
        let backends = Backends::start("127.0.0.1:0").await;
        let settings = config::load(&backends.config_path).unwrap();
        let engine = Engine::start(&settings, StoreKind::Real).await.unwrap();
        let server = Server::start(&settings, engine).await.unwrap();
        Rig {
            url: format!("https://127.0.0.1:{}", server.local_addr().port()),
            client: backends.client(),
            backends,
            server,
        }
    }

    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn try_login(&self, user: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.at(SESSION_PATH))
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, user: &str, password: &str) -> SessionGranted {
        let reply = self.try_login(user, password).await;
        assert_eq!(reply.status().as_u16(), 201);
        reply.json().await.unwrap()
    }

    async fn stream(&self, token: &str) -> Stream {
        let response = self
            .client
            .get(self.at(EVENTS_PATH))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Stream {
            response,
            buffer: Vec::new(),
            seen: Vec::new(),
            cases: HashMap::new(),
            details: HashMap::new(),
        }
    }

    async fn send(&self, token: &str, id: u64, request: Request) -> reqwest::Response {
        self.client
            .post(self.at(REQUESTS_PATH))
            .bearer_auth(token)
            .json(&RequestEnvelope {
                id: RequestId(id),
                request,
            })
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self, token: &str) -> String {
        let reply = self
            .client
            .get(self.at(METRICS_PATH))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        assert_eq!(
            reply.headers()["content-type"].to_str().unwrap(),
            "text/plain; version=0.0.4; charset=utf-8"
        );
        reply.text().await.unwrap()
    }
}

/// The API's error body, read whole: nothing else may be in it.
async fn api_error(reply: reqwest::Response) -> String {
    let text = reply.text().await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value.as_object().unwrap().len(), 1, "{text}");
    serde_json::from_value::<ApiError>(value).unwrap().error
}

/// One session's event stream, read as server-sent events.
struct Stream {
    response: reqwest::Response,
    buffer: Vec<u8>,
    seen: Vec<Event>,
    /// The latest summary and detail of each case, as the events left them.
    cases: HashMap<CaseId, CaseSummary>,
    details: HashMap<CaseId, CaseDetail>,
}

impl Stream {
    /// The next event; `None` once the server has ended the stream.
    async fn next(&mut self, deadline: tokio::time::Instant) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = std::str::from_utf8(&frame).unwrap();
                let data: Vec<&str> = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                match data.as_slice() {
                    [] => continue,
                    [json] => return Some(serde_json::from_str(json).unwrap()),
                    more => panic!("one event per frame, got {more:?}"),
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no event in time; last events: {:#?}",
                        &self.seen[self.seen.len().saturating_sub(8)..]
                    )
                })
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return None,
            }
        }
    }

    async fn wait<T>(&mut self, what: &str, mut f: impl FnMut(&Event) -> Option<T>) -> T {
        self.wait_for(what, WAIT, &mut f).await
    }

    async fn wait_for<T>(
        &mut self,
        what: &str,
        within: Duration,
        f: &mut impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = self
                .next(deadline)
                .await
                .unwrap_or_else(|| panic!("the stream ended before {what}"));
            match &event {
                Event::Snapshot(s) => {
                    for c in &s.cases {
                        self.cases.insert(c.id, c.clone());
                    }
                }
                Event::CaseChanged(c) => {
                    self.cases.insert(c.id, c.clone());
                }
                Event::CaseDetail(d) => {
                    self.details.insert(d.summary.id, (**d).clone());
                }
                _ => {}
            }
            let picked = f(&event);
            self.seen.push(event);
            if let Some(picked) = picked {
                return picked;
            }
        }
    }

    /// Waits until `case`'s latest summary satisfies `f`.
    async fn case(&mut self, case: CaseId, what: &str, f: impl Fn(&CaseSummary) -> bool) {
        if self.cases.get(&case).is_some_and(&f) {
            return;
        }
        self.wait(what, |e| match e {
            Event::CaseChanged(c) if c.id == case && f(c) => Some(()),
            _ => None,
        })
        .await
    }

    /// Waits (at most `within`) until `case`'s latest detail gives a value.
    async fn detail<T>(
        &mut self,
        case: CaseId,
        what: &str,
        within: Duration,
        f: impl Fn(&CaseDetail) -> Option<T>,
    ) -> T {
        if let Some(found) = self.details.get(&case).and_then(&f) {
            return found;
        }
        self.wait_for(what, within, &mut |e| match e {
            Event::CaseDetail(d) if d.summary.id == case => f(d),
            _ => None,
        })
        .await
    }

    async fn accepted(&mut self, request: u64) -> Option<CaseId> {
        self.wait("the answer", |e| match e {
            Event::RequestAccepted { request: r, case } if r.0 == request => Some(*case),
            Event::RequestFailed { request: r, reason } if r.0 == request => {
                panic!("request {request} refused: {reason}")
            }
            _ => None,
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_give_tokens_and_wrong_passwords_get_401_then_slow_answers() {
    let rig = Rig::start().await;
    let granted = rig.login("ada", ADA_PASSWORD).await;
    assert_eq!(granted.operator, "ada");
    assert_eq!(granted.token.len(), 43, "256 random bits, base64url");
    let second = rig.login("ada", ADA_PASSWORD).await;
    assert_ne!(second.token, granted.token);
    let idle = granted.expires_at - chrono::Utc::now();
    assert!(
        idle > chrono::Duration::minutes(29) && idle <= chrono::Duration::minutes(30),
        "{idle}"
    );

    let wrong = rig.try_login("ada", "not-her-password").await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"].to_str().unwrap(),
        "Basic realm=\"casebridge\""
    );
    assert_eq!(
        api_error(wrong).await,
        "wrong user name or password: check both, or ask the relay's administrator for your [[serve.users]] entry"
    );
    let stranger = rig.try_login("mallory", ADA_PASSWORD).await;
    assert_eq!(stranger.status().as_u16(), 401);
    let anonymous = rig.client.post(rig.at(SESSION_PATH)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(
        api_error(anonymous).await,
        "log in with HTTP Basic credentials: the name and password of your [[serve.users]] entry"
    );
    for path in [EVENTS_PATH, METRICS_PATH] {
        let forged = rig
            .client
            .get(rig.at(path))
            .bearer_auth(format!("{}x", granted.token))
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 401, "{path}");
        assert_eq!(
            api_error(forged).await,
            "no session, or it ended after being idle: log in again with POST /api/v1/session and use the token it gives"
        );
    }

    // bob: four failures answered at once, then every answer waits.
    for attempt in 1..=4 {
        let started = Instant::now();
        let reply = rig.try_login("bob", "guess").await;
        assert_eq!(reply.status().as_u16(), 401, "attempt {attempt}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "attempt {attempt} took {:?}",
            started.elapsed()
        );
    }
    for attempt in 5..=6 {
        let started = Instant::now();
        let reply = rig.try_login("bob", "guess").await;
        assert_eq!(reply.status().as_u16(), 401);
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "attempt {attempt} took only {:?}",
            started.elapsed()
        );
    }
    // Other names are not slowed by bob's failures.
    let started = Instant::now();
    rig.login("ada", ADA_PASSWORD).await;
    assert!(started.elapsed() < Duration::from_secs(1));
    // The right password is slowed too (else the delay would tell a wrong
    // guess from a right one), and resets the count.
    let started = Instant::now();
    rig.login("bob", BOB_PASSWORD).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    let started = Instant::now();
    assert_eq!(rig.try_login("bob", "guess").await.status().as_u16(), 401);
    assert!(started.elapsed() < Duration::from_secs(1));

    // Opening the stream again (a reconnecting console) ends the first one.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut first = rig.stream(&granted.token).await;
    assert!(matches!(
        first.next(deadline).await,
        Some(Event::Snapshot(_))
    ));
    let mut second = rig.stream(&granted.token).await;
    assert!(matches!(
        second.next(deadline).await,
        Some(Event::Snapshot(_))
    ));
    while first.next(deadline).await.is_some() {}
    assert_eq!(
        rig.send(&granted.token, 5, Request::LoadIncidents)
            .await
            .status()
            .as_u16(),
        202
    );
    second
        .wait("the incidents", |e| {
            matches!(e, Event::Incidents(_)).then_some(())
        })
        .await;

    // Logging out ends the session and its stream.
    let out = rig
        .client
        .delete(rig.at(SESSION_PATH))
        .bearer_auth(&granted.token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let after = rig.send(&granted.token, 1, Request::LoadIncidents).await;
    assert_eq!(after.status().as_u16(), 401);
    while second.next(deadline).await.is_some() {}
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_and_healthz_and_unknown_paths_answer() {
    let rig = Rig::start().await;
    let port = rig.server.local_addr().port();
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{HEALTHZ_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status().as_u16(), 400);
    assert_eq!(
        api_error(plain).await,
        "this port speaks HTTPS only: use an https:// URL"
    );
    let plain_login = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{SESSION_PATH}"))
        .basic_auth("ada", Some(ADA_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(plain_login.status().as_u16(), 400);
    assert!(!plain_login.text().await.unwrap().contains("token"));

    let health = rig.client.get(rig.at(HEALTHZ_PATH)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);
    let missing = rig
        .client
        .get(rig.at("/api/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert!(api_error(missing).await.starts_with("no such endpoint: "));
    let wrong_method = rig.client.get(rig.at(SESSION_PATH)).send().await.unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    api_error(wrong_method).await;
    let anonymous = rig.client.get(rig.at(METRICS_PATH)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let basic = rig
        .client
        .get(rig.at(METRICS_PATH))
        .basic_auth("ada", Some(ADA_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    rig.server.stop().await;
}

#[test]
fn plain_http_is_accepted_only_on_a_loopback_listen_address() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/invalid_configs/serve_plain_http_not_loopback.toml");
    let text = std::fs::read_to_string(invalid).unwrap();
    for file in [
        "certs/client.pem",
        "certs/client.key",
        "secrets/agent-key",
        "secrets/sn-password",
    ] {
        write_private(&dir.path().join(file), "x");
    }
    let path = dir.path().join("config.toml");
    let error = config::load_str(&text, &path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "{}: serve.allow_plain_http: plain HTTP is asked for on 0.0.0.0:8080, which is not a loopback address. \
             Remove allow_plain_http and set serve.tls_cert and serve.tls_key, or listen on 127.0.0.1 or [::1].",
            path.display()
        )
    );
    let loopback = text.replace("0.0.0.0:8080", "127.0.0.1:8080");
    let settings = config::load_str(&loopback, &path).unwrap();
    let serve = settings.serve.unwrap();
    assert_eq!(serve.transport, Transport::PlainLoopback);
    assert_eq!(serve.listen.to_string(), "127.0.0.1:8080");
    assert!(!serve.metrics_public);
    assert_eq!(serve.users.len(), 1);
    assert_eq!(serve.users[0].operator, "ada");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_see_each_others_comment_and_the_metrics_count_it() {
    let rig = Rig::start().await;
    let ada = rig.login("ada", ADA_PASSWORD).await;
    let bob = rig.login("bob", BOB_PASSWORD).await;

    // Without a stream there is nowhere for the outcome to go.
    let early = rig.send(&ada.token, 1, Request::LoadIncidents).await;
    assert_eq!(early.status().as_u16(), 409);
    assert_eq!(
        api_error(early).await,
        "this session has no open event stream: open GET /api/v1/events first; the request's outcome arrives there"
    );

    let mut ada_events = rig.stream(&ada.token).await;
    let mut bob_events = rig.stream(&bob.token).await;
    for stream in [&mut ada_events, &mut bob_events] {
        let first = stream
            .next(tokio::time::Instant::now() + WAIT)
            .await
            .unwrap();
        let Event::Snapshot(snapshot) = first else {
            panic!("the stream began with {first:?}");
        };
        assert_eq!(snapshot.cases, vec![]);
        assert_eq!(snapshot.systems[0].name, "compute");
    }

    let bad = rig
        .client
        .post(rig.at(REQUESTS_PATH))
        .bearer_auth(&ada.token)
        .body(r#"{"id": 1, "request": {"type": "fly"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    assert!(
        api_error(bad)
            .await
            .starts_with("the body is not a request envelope (")
    );
    let huge = rig
        .client
        .post(rig.at(REQUESTS_PATH))
        .bearer_auth(&ada.token)
        .body(vec![b' '; casebridge::serve::REQUEST_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status().as_u16(), 413);

    // ada opens a case once the sync has read the incident.
    let mut next = 10;
    loop {
        next += 1;
        assert_eq!(
            rig.send(&ada.token, next, Request::LoadIncidents)
                .await
                .status()
                .as_u16(),
            202
        );
        let found = ada_events
            .wait("the incidents", |e| match e {
                Event::Incidents(list) => {
                    Some(list.iter().any(|i| i.number == rig.backends.incident))
                }
                _ => None,
            })
            .await;
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let open = OpenCase {
        incident: rig.backends.incident.clone(),
        system: "compute".into(),
        priority: Priority::CriticalDegraded,
        title: "Slingshot fabric manager down".into(),
        description: "fmn reports 3 links down".into(),
    };
    assert_eq!(
        rig.send(&ada.token, 100, Request::OpenCase(open))
            .await
            .status()
            .as_u16(),
        202
    );
    let case = ada_events.accepted(100).await.unwrap();
    // bob's stream sees the new case too.
    bob_events.case(case, "ada's case", |_| true).await;
    ada_events
        .case(case, "the acknowledged case", |c| !c.flags.pending)
        .await;
    rig.backends
        .gsem
        .hpe_accept(&rig.backends.incident)
        .unwrap();
    ada_events
        .case(case, "HPE's acceptance", |c| c.provider_id.is_some())
        .await;

    assert_eq!(
        rig.send(
            &bob.token,
            1,
            Request::LoadCase {
                case,
                history: History::All,
            }
        )
        .await
        .status()
        .as_u16(),
        202
    );
    bob_events
        .detail(case, "the case detail", WAIT, |_| Some(()))
        .await;
    let text = "logs attached\nsee x1000c3s2b0";
    let posted = Instant::now();
    assert_eq!(
        rig.send(
            &ada.token,
            101,
            Request::Comment {
                case,
                text: text.into()
            }
        )
        .await
        .status()
        .as_u16(),
        202
    );
    let note = |d: &CaseDetail| {
        d.timeline
            .iter()
            .find(|e| e.kind == "NOTE" && e.origin == Origin::Local && e.text == text)
            .map(|e| (e.author.clone(), e.status.clone()))
    };
    let (author, _) = bob_events
        .detail(case, "ada's comment", Duration::from_secs(10), note)
        .await;
    assert!(posted.elapsed() < Duration::from_secs(10));
    assert_eq!(author, "ada");
    assert_eq!(ada_events.accepted(101).await, Some(case));
    bob_events
        .detail(case, "the comment sent", WAIT, |d| {
            note(d).filter(|(_, status)| *status == EntryStatus::Sent)
        })
        .await;

    // Two messages sent and acknowledged, HPE's acceptance processed.
    let metrics = rig.metrics(&bob.token).await;
    let samples: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        samples[..10],
        [
            "casebridge_outbox_depth 0",
            "casebridge_outbox_oldest_age_seconds 0.000",
            "casebridge_outbox_sent_total 2",
            "casebridge_outbox_acknowledged_total 2",
            "casebridge_outbox_refused 0",
            "casebridge_outbox_dropped_total 0",
            "casebridge_inbound_processed_total 1",
            "casebridge_inbound_quarantined 0",
            "casebridge_inbound_pending 0",
            "casebridge_quarantine_open 0",
        ]
    );
    let now = chrono::Utc::now().timestamp() as f64;
    for side in ["gsem", "servicenow"] {
        let prefix = format!("casebridge_last_contact_timestamp_seconds{{side=\"{side}\"}} ");
        let at: f64 = samples
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {side} contact in {metrics}"))
            .parse()
            .unwrap();
        assert!(
            (now - 60.0..=now + 1.0).contains(&at),
            "{side}: {at} vs {now}"
        );
    }

    // Stopping the server ends both streams.
    let stopping = tokio::spawn(rig.server.stop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for stream in [&mut ada_events, &mut bob_events] {
        while stream.next(deadline).await.is_some() {}
    }
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_opted_in_on_loopback_serves_and_public_metrics_need_no_login() {
    let backends = Backends::start("127.0.0.1:0").await;
    let text = std::fs::read_to_string(&backends.config_path).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("tls_cert = ") && !l.starts_with("tls_key = "))
        .map(|l| match l {
            "listen = \"127.0.0.1:0\"" => {
                "listen = \"127.0.0.1:0\"\nallow_plain_http = true\nmetrics_public = true\nsession_idle = \"1s\"".to_owned()
            }
            other => other.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let settings = config::load_str(&text, &backends.config_path).unwrap();
    let engine = Engine::start(&settings, StoreKind::Real).await.unwrap();
    let server = Server::start(&settings, engine).await.unwrap();
    let url = server.url();
    assert_eq!(url, format!("http://{}", server.local_addr()));
    let client = reqwest::Client::new();
    let metrics = client
        .get(format!("{url}{METRICS_PATH}"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("\ncasebridge_outbox_depth 0\n")
    );
    let granted: SessionGranted = client
        .post(format!("{url}{SESSION_PATH}"))
        .basic_auth("ada", Some(ADA_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Idle past session_idle (no stream open): the token is refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = client
        .delete(format!("{url}{SESSION_PATH}"))
        .bearer_auth(&granted.token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status().as_u16(), 401);
    server.stop().await;
}

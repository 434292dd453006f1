#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `casebridge::serve::run` stops cleanly on SIGTERM: the event streams
//! end, `run` returns, the store's engine lock is free, and the log says so.
//! Alone in its binary: the signal goes to the whole test process.

mod serve_rig;

use std::time::Duration;

use casebridge::config;
use casebridge::console::Event;
use casebridge::console::wire::{EVENTS_PATH, HEALTHZ_PATH, SESSION_PATH, SessionGranted};
use casebridge::engine::{Engine, StoreKind};
use serve_rig::{ADA_PASSWORD, Backends, free_port};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn sigterm_closes_the_streams_and_stops_the_engine() {
    let data = tempfile::tempdir().unwrap();
    // SAFETY: set before the runtime (or any other thread) starts; the data
    // dir, and so the log, goes there instead of the user's home.
    unsafe { std::env::set_var("XDG_DATA_HOME", data.path()) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let port = free_port();
        let backends = Backends::start(&format!("127.0.0.1:{port}")).await;
        let settings = config::load(&backends.config_path).unwrap();
        let serving = tokio::spawn(casebridge::serve::run(settings.clone()));
        let client = backends.client();
        let url = format!("https://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let health = client.get(format!("{url}{HEALTHZ_PATH}")).send().await;
            if health.is_ok_and(|r| r.status().as_u16() == 200) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "serve never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let granted: SessionGranted = client
            .post(format!("{url}{SESSION_PATH}"))
            .basic_auth("ada", Some(ADA_PASSWORD))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut events = client
            .get(format!("{url}{EVENTS_PATH}"))
            .bearer_auth(&granted.token)
            .send()
            .await
            .unwrap();
        let mut first = Vec::new();
        while !first.windows(2).any(|w| w == b"\n\n") {
            let chunk = tokio::time::timeout(WAIT, events.chunk()).await.unwrap();
            first.extend_from_slice(&chunk.unwrap().unwrap());
        }
        let first = std::str::from_utf8(&first).unwrap();
        let json = first.strip_prefix("data: ").unwrap().split("\n\n").next();
        let event: Event = serde_json::from_str(json.unwrap()).unwrap();
        assert!(matches!(event, Event::Snapshot(_)), "{event:?}");

        let killed = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());

        // The stream ends (it would otherwise only send keep-alives).
        let ended = tokio::time::timeout(WAIT, async {
            while let Ok(Some(_)) = events.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "the event stream stayed open after SIGTERM");
        let outcome = tokio::time::timeout(WAIT, serving)
            .await
            .expect("run did not return after SIGTERM")
            .unwrap();
        outcome.unwrap();

        // Nothing of the stopped engine holds the store's lock.
        let again = Engine::start(&settings, StoreKind::Real).await.unwrap();
        again.stop().await;
        assert!(
            client
                .get(format!("{url}{HEALTHZ_PATH}"))
                .send()
                .await
                .is_err(),
            "the API still answers"
        );
    });
    let logs = data.path().join("casebridge/logs");
    let text: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect();
    for line in [
        "console API listening",
        "stop signal received",
        "console API stopped",
        "engine stopped",
    ] {
        assert!(text.contains(line), "{line:?} not in the log:\n{text}");
    }
}

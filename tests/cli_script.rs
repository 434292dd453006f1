#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scripting CLI as a script sees it: the real binary on a real store
//! (made with the library, or filled by an engine running beside it against
//! the GSEM and ServiceNow simulators), its stdout in human and `--json`
//! form, its stderr and its exit status.

#[path = "certification/common.rs"]
#[allow(dead_code)]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use casebridge::console::{Event, History, Request, RequestId};
use casebridge::engine::{Engine, StoreKind};
use casebridge::sim::servicenow::NewIncident;
use casebridge::store::prelude::*;
use casebridge::store::{NewQuarantine, OutboxState, QuarantineState};
use chrono::Utc;
use common::{Mode, Options, Rig, wait_until};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(20);

/// What one run of the binary gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Exit 0 and nothing on stderr.
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!((self.code, self.stderr.as_str()), (0, ""), "{self:#?}");
        self
    }

    /// Exit `code`, nothing on stdout, exactly `message` on stderr.
    #[track_caller]
    fn fails(&self, code: i32, message: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str(), self.stderr.as_str()),
            (code, "", format!("casebridge: {message}\n").as_str()),
            "{self:#?}"
        );
    }
}

/// Runs `casebridge --config <rig's> ARGS`, with `stdin` piped in when given.
async fn cli(rig: &Rig, args: &[&str], stdin: Option<&str>) -> Run {
    cli_with(rig, args, stdin, &[]).await
}

/// [`cli`] with these environment variables set.
async fn cli_with(rig: &Rig, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebridge"));
    command
        .arg("--config")
        .arg(&rig.config_path)
        .args(args)
        .env("HOME", rig.dir.path())
        .env("XDG_DATA_HOME", rig.dir.path().join("xdg-data"))
        .env_remove("CASEBRIDGE_OPERATOR")
        .env_remove("CASEBRIDGE_CONFIG")
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).await.unwrap();
    }
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("casebridge {args:?} did not finish within {WAIT:?}"))
        .unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `value` with its `updated` time checked for shape and taken out.
fn without_updated(mut value: Value) -> Value {
    let updated = value["updated"].take();
    let text = updated.as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'),
        "{text}"
    );
    value.as_object_mut().unwrap().remove("updated");
    value
}

/// A case's JSON as `case` commands print it, without `updated`.
#[allow(clippy::too_many_arguments)]
fn case_json(
    incident: &str,
    n: u32,
    hpe_case: Option<&str>,
    priority: &str,
    (state, pending): (u8, u8),
    workflow: Option<&str>,
    pending_flag: bool,
) -> Value {
    let words = casebridge::console::state_words;
    json!({
        "incident": incident,
        "tracking": format!("{incident}_{n}"),
        "hpe_case": hpe_case,
        "system": "compute",
        "priority": priority,
        "state": state,
        "state_words": words(state),
        "pending_state": pending,
        "pending_state_words": words(pending),
        "finished": casebridge::console::is_finished(state) || casebridge::console::is_finished(pending),
        "workflow_status": workflow,
        "open_tasks": 0,
        "parts_in_transit": 0,
        "flags": {"pending": pending_flag, "failed": false, "info_requested": false, "overdue": false},
    })
}

/// Open, show, comment (from stdin) and close a case with the binary while
/// the engine runs beside it: what the CLI queues reaches the GSEM
/// simulator, and the refusals of the state table come before anything is
/// sent.
/// Waits until the engine's ServiceNow sync has read `incident` into the
/// store (a case can be opened on it from then on).
async fn wait_for_incident(
    rig: &Rig,
    store: &casebridge::gsem::shared::SharedStore,
    incident: &str,
) {
    wait_until(
        "the incident read from ServiceNow",
        &rig.ctx(),
        WAIT,
        || {
            store
                .lock()
                .unwrap()
                .incident_by_number(incident)
                .unwrap()
                .is_some()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_from_open_to_close_with_an_engine_beside() {
    let rig = Rig::start(Options::new(Mode::Pull), common::seed("cli lifecycle")).await;
    let mut new = NewIncident::new("Slingshot fabric manager down");
    new.description = "fmn reports 3 links down".into();
    let incident = rig
        .servicenow
        .create_incident(&new)
        .unwrap()
        .get("number")
        .to_owned();
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap();
    let store = rig.tool_store();
    wait_for_incident(&rig, &store, &incident).await;

    let list = cli(&rig, &["case", "list"], None).await.ok();
    assert_eq!(list.stdout, "no cases\n");
    let list = cli(&rig, &["case", "list", "--json"], None).await.ok();
    assert_eq!(list.json(), json!({"cases": []}));

    // Two systems, and the incident's CI names neither.
    cli(&rig, &["case", "open", "--incident", &incident], None)
        .await
        .fails(
            2,
            &format!(
                "which system? Incident {incident} names none of the configured ones: \
                 pass --system with one of compute, storage"
            ),
        );
    cli(
        &rig,
        &[
            "case",
            "open",
            "--incident",
            "INC0999999",
            "--system",
            "compute",
        ],
        None,
    )
    .await
    .fails(
        3,
        "incident INC0999999 is not among the incidents casebridge has read from ServiceNow: \
         check the number, or wait for the next poll (it reads those matching \
         servicenow.incident_query)",
    );

    // GSEM stays out of reach until the queued state has been printed.
    rig.gsem
        .set_fault(casebridge::sim::gsem::Fault::RefuseConnections);
    let opened = cli(
        &rig,
        &[
            "case",
            "open",
            "--incident",
            &incident,
            "--system",
            "compute",
            "--priority",
            "critical-degraded",
            "--json",
        ],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(opened["action"], "open");
    assert_eq!(opened["transaction"], "SERVICE REQUEST");
    assert_eq!(
        opened.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["action", "transaction", "case"]
    );
    assert_eq!(
        without_updated(opened["case"].clone()),
        case_json(&incident, 1, None, "critical-degraded", (0, 3), None, true)
    );
    rig.gsem.set_fault(casebridge::sim::gsem::Fault::None);
    let tracking = format!("{incident}_1");
    let case_id = store
        .lock()
        .unwrap()
        .case_by_tracking_number(&tracking)
        .unwrap()
        .unwrap()
        .id;
    wait_until("GSEM's acknowledgement", &rig.ctx(), WAIT, || {
        common::case(&store, case_id).state == 3
    })
    .await;

    // Closing before HPE accepted asks for closure; comments need notes.
    cli(&rig, &["case", "comment", &incident, " \n"], None)
        .await
        .fails(1, "the comment is empty: write something to send");
    cli(&rig, &["case", "close", &tracking, ""], None)
        .await
        .fails(
            1,
            "closure notes are mandatory: write what was done before closing",
        );

    let hpe_case = "5381923377";
    rig.gsem.hpe_accept(&incident).unwrap();
    wait_until("HPE's acceptance", &rig.ctx(), WAIT, || {
        common::case(&store, case_id).provider_id.as_deref() == Some(hpe_case)
    })
    .await;

    let shown = cli(&rig, &["case", "show", hpe_case, "--json"], None)
        .await
        .ok()
        .json();
    assert_eq!(
        shown.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "case",
            "title",
            "description",
            "timeline",
            "tasks",
            "parts",
            "unparsed_updates"
        ]
    );
    assert_eq!(
        without_updated(shown["case"].clone()),
        case_json(
            &incident,
            1,
            Some(hpe_case),
            "critical-degraded",
            (5, 5),
            Some("Assigned"),
            false
        )
    );
    assert_eq!(shown["title"], "Slingshot fabric manager down");
    assert_eq!(shown["description"], "fmn reports 3 links down");
    assert_eq!(
        (shown["tasks"].clone(), shown["parts"].clone()),
        (json!([]), json!([]))
    );
    let opened_entry = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "OPENED")
        .unwrap()
        .clone();
    let entry_keys: Vec<&String> = opened_entry.as_object().unwrap().keys().collect();
    assert_eq!(
        entry_keys,
        [
            "id", "time", "origin", "author", "kind", "text", "status", "reason", "raw"
        ]
    );
    assert_eq!(
        (
            &opened_entry["origin"],
            &opened_entry["author"],
            &opened_entry["text"],
            &opened_entry["status"],
            &opened_entry["reason"]
        ),
        (
            &json!("local"),
            &json!("ada"),
            &json!("fmn reports 3 links down"),
            &json!("sent"),
            &Value::Null
        )
    );
    assert!(
        opened_entry["raw"]
            .as_str()
            .unwrap()
            .contains("SERVICE REQUEST")
    );

    let human = cli(&rig, &["case", "show", &incident], None).await.ok();
    let head: Vec<&str> = human.stdout.lines().take(9).collect();
    assert_eq!(
        head[..7],
        [
            format!("{tracking}  Slingshot fabric manager down").as_str(),
            format!("  incident    {incident}").as_str(),
            format!("  HPE case    {hpe_case}").as_str(),
            "  system      compute",
            "  priority    Critical Degraded",
            "  state       5 With HPE",
            "  HPE status  Assigned",
        ],
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("\ndescription:\n  fmn reports 3 links down\n")
    );
    assert!(
        human
            .stdout
            .contains(" ada (local)  OPENED  [sent]\n    fmn reports 3 links down\n")
    );

    let listed = cli(&rig, &["case", "list"], None).await.ok();
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", listed.stdout);
    assert!(
        lines[0].starts_with("TRACKING      HPE CASE    STATE       SYSTEM   PRIORITY"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!(
            "{tracking}  {hpe_case}  5 With HPE  compute  Critical Degraded  "
        )),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("  -"), "{}", lines[1]);

    // A comment from stdin, without the line break echo adds.
    let comment = "logs attached\nsee x1000c3s2b0";
    let commented = cli(
        &rig,
        &["case", "comment", &tracking, "-"],
        Some(&format!("{comment}\n")),
    )
    .await
    .ok();
    assert_eq!(
        commented.stdout,
        format!(
            "queued PROVIDE PROBLEM INFORMATION on case {tracking}; the engine sends it to HPE\n"
        )
    );
    wait_until("the comment at GSEM", &rig.ctx(), WAIT, || {
        rig.gsem
            .received_comments_for(hpe_case)
            .contains(&comment.to_string())
    })
    .await;

    let closed = cli(
        &rig,
        &["case", "close", hpe_case, "replaced the switch", "--json"],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(closed["action"], "close");
    assert_eq!(closed["transaction"], "REQUEST CLOSURE");
    assert_eq!(closed["case"]["pending_state"], 7);
    assert_eq!(closed["case"]["finished"], true);
    cli(&rig, &["case", "comment", &tracking, "one more thing"], None)
        .await
        .fails(
            1,
            &format!(
                "case {incident} is finished (Closed): nothing more can be sent to HPE; open a new case instead"
            ),
        );

    // A second case on the incident makes its number ambiguous.
    let second = cli(
        &rig,
        &[
            "case",
            "open",
            "--incident",
            &incident,
            "--system",
            "compute",
            "--title",
            "-",
        ],
        Some("second look\n"),
    )
    .await
    .ok();
    assert_eq!(
        second.stdout,
        format!(
            "queued SERVICE REQUEST for incident {incident}: case {incident}_2 on compute (Normal); the engine sends it to HPE\n"
        )
    );
    cli(&rig, &["case", "show", &incident], None).await.fails(
        3,
        &format!(
            "incident {incident} has 2 cases: name one by its tracking number: \
             {incident}_1 (With HPE), {incident}_2 (Requested)"
        ),
    );
    let second_title = cli(
        &rig,
        &["case", "show", &format!("{incident}_2"), "--json"],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(second_title["title"], "second look");
    assert_eq!(second_title["description"], "fmn reports 3 links down");
    cli(&rig, &["case", "show", "INC0000000_9"], None).await.fails(
        3,
        "no case \"INC0000000_9\": name one by its incident number (INC0010001), tracking number \
         (INC0010001_1) or HPE case number; `casebridge case list` shows them",
    );
    engine.stop().await;
}

/// The outbox's parked messages and the quarantine, on a store made with
/// the library and no engine running: the CLI's requests are committed
/// there for an engine to act on later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_and_quarantine_on_a_store_without_an_engine() {
    let rig = Rig::start(Options::new(Mode::Pull), common::seed("cli queues")).await;
    let store = rig.tool_store();
    let actions = rig.tool_actions(&store);
    let (case, queued) = actions
        .open_case(
            common::open_case("INC0010042", "disk failed", "sda", "SN0001", "CN0001"),
            Utc::now(),
        )
        .await
        .unwrap();
    let refusal = "GSEM refused: invalid contract";
    let now = Utc::now().timestamp_millis();
    store
        .lock()
        .unwrap()
        .outbox_park(queued.seq, refusal, now)
        .unwrap();
    let body = store
        .lock()
        .unwrap()
        .outbox_get(queued.seq)
        .unwrap()
        .unwrap()
        .body;
    let (bad, oversized) = (b"{\"Message\": ".as_slice(), b"[]".as_slice());
    let (q1, q2) = {
        let s = store.lock().unwrap();
        (
            s.quarantine_insert(&NewQuarantine::whole(bad, "not JSON: EOF at 12", None), now)
                .unwrap()
                .id,
            s.quarantine_insert(&NewQuarantine::whole(oversized, "no Message", None), now)
                .unwrap()
                .id,
        )
    };

    let listed = cli(&rig, &["outbox", "list", "--json"], None)
        .await
        .ok()
        .json();
    let queued_at = listed["parked"][0]["queued_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        listed,
        json!({
            "queued": 0,
            "oldest_queued": null,
            "parked": [{
                "seq": queued.seq,
                "incident": "INC0010042",
                "transaction": "SERVICE REQUEST",
                "detail": refusal,
                "body": body,
                "queued_at": queued_at,
                "attempts": 1,
            }],
        })
    );
    let human = cli(&rig, &["outbox", "list"], None).await.ok();
    let lines: Vec<&str> = human.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        ["0 message(s) queued", "parked (refused by GSEM for good):"]
    );
    assert!(
        lines[2].starts_with("SEQ  INCIDENT    TRANSACTION      QUEUED"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with(&format!("{:<3}  INC0010042  SERVICE REQUEST  ", queued.seq)),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].ends_with(&format!("1         {refusal}")),
        "{}",
        lines[3]
    );

    cli(&rig, &["outbox", "retry", "999"], None).await.fails(
        3,
        "no parked outbox message 999: `casebridge outbox list` shows the parked ones",
    );
    let retried = cli(
        &rig,
        &["outbox", "retry", &queued.seq.to_string(), "--json"],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(
        retried.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["action", "transaction", "seq", "case"]
    );
    assert_eq!(
        (
            &retried["action"],
            &retried["transaction"],
            &retried["seq"],
            &retried["case"]["tracking"]
        ),
        (
            &json!("retry"),
            &json!("SERVICE REQUEST"),
            &json!(queued.seq),
            &json!(case.tracking_number)
        )
    );
    assert_eq!(
        store
            .lock()
            .unwrap()
            .outbox_get(queued.seq)
            .unwrap()
            .unwrap()
            .state,
        OutboxState::Queued
    );

    store
        .lock()
        .unwrap()
        .outbox_park(queued.seq, refusal, now)
        .unwrap();
    let dropped = cli(&rig, &["outbox", "drop", &queued.seq.to_string()], None)
        .await
        .ok();
    assert_eq!(
        dropped.stdout,
        format!(
            "outbox message {} (SERVICE REQUEST) of case INC0010042_1 dropped\n",
            queued.seq
        )
    );
    assert_eq!(
        store
            .lock()
            .unwrap()
            .outbox_get(queued.seq)
            .unwrap()
            .unwrap()
            .state,
        OutboxState::Dropped
    );

    let quarantined = cli(&rig, &["quarantine", "list", "--json"], None)
        .await
        .ok()
        .json();
    let entries = quarantined["quarantine"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{quarantined:#}");
    let first = entries.iter().find(|e| e["id"] == q1).unwrap();
    let received_at = first["received_at"].as_str().unwrap().to_string();
    assert_eq!(
        first,
        &json!({
            "id": q1,
            "reason": "not JSON: EOF at 12",
            "transaction": null,
            "received_at": received_at,
            "delivery_count": 1,
            "sha256": common::sha256_hex(bad),
            "body": "{\"Message\": ",
        })
    );
    let shown = cli(&rig, &["quarantine", "show", &q1.to_string()], None)
        .await
        .ok();
    let lines: Vec<&str> = shown.stdout.lines().collect();
    assert_eq!(
        [lines[0], lines[1], lines[2]],
        [
            format!("quarantine entry {q1}").as_str(),
            "  reason       not JSON: EOF at 12",
            "  transaction  unknown"
        ]
    );
    assert!(
        shown.stdout.ends_with("\nbody:\n{\"Message\": \n"),
        "{}",
        shown.stdout
    );
    cli(&rig, &["quarantine", "show", "999", "--json"], None)
        .await
        .fails(
            3,
            "no open quarantine entry 999: `casebridge quarantine list` shows them",
        );

    let replayed = cli(
        &rig,
        &["quarantine", "replay", &q1.to_string(), "--json"],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(replayed, json!({"action": "replay", "id": q1}));
    let discarded = cli(&rig, &["quarantine", "discard", &q2.to_string()], None)
        .await
        .ok();
    assert_eq!(
        discarded.stdout,
        format!("quarantine entry {q2} discarded\n")
    );
    let s = store.lock().unwrap();
    assert_eq!(
        s.quarantine_get(q2).unwrap().unwrap().state,
        QuarantineState::Discarded
    );
    // The replayed body waits in the inbox for an engine's processor.
    let inbox = common::inbox_rows(&s);
    assert_eq!(inbox.last().map(|row| row.raw.as_slice()), Some(bad));
}

/// Usage and configuration errors exit 2; completions name the commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_and_completions() {
    let rig = Rig::start(Options::new(Mode::Pull), common::seed("cli usage")).await;
    cli(&rig, &["case", "list", "--operator", "bob"], None)
        .await
        .fails(
            2,
            "--operator \"bob\" is no [[operators]] id; use one of: ada",
        );
    let missing = cli(&rig, &["case", "open", "--system", "compute"], None).await;
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(
        missing.stderr.contains("--incident <INCIDENT>"),
        "{missing:#?}"
    );
    let bad_priority = cli(
        &rig,
        &["case", "open", "--incident", "INC1", "--priority", "high"],
        None,
    )
    .await;
    assert_eq!(bad_priority.code, 2, "{bad_priority:#?}");
    cli(
        &rig,
        &[
            "case",
            "open",
            "--incident",
            "INC1",
            "--title",
            "-",
            "--description",
            "-",
        ],
        Some("x"),
    )
    .await
    .fails(
        2,
        "only one text can come from stdin: --title and --description both ask for `-`",
    );

    let no_config = tokio::process::Command::new(env!("CARGO_BIN_EXE_casebridge"))
        .args(["case", "list", "--config"])
        .arg(rig.dir.path().join("absent.toml"))
        .output()
        .await
        .unwrap();
    assert_eq!(no_config.status.code(), Some(2));

    cli(&rig, &["outbox", "list"], None).await.fails(
        2,
        &format!(
            "no store at {}: start `casebridge serve` (or the console) once on this config to create it, or fix store.path",
            rig.store_path.display()
        ),
    );
    assert!(!rig.store_path.exists());

    let help = cli(&rig, &["--help"], None).await.ok();
    assert!(
        help.stdout.contains("3 what the command names"),
        "{}",
        help.stdout
    );

    let script = cli(&rig, &["completions", "bash"], None).await.ok();
    assert!(
        script.stdout.contains("complete -F _casebridge"),
        "{}",
        &script.stdout[..200]
    );
    for word in [
        "case",
        "outbox",
        "quarantine",
        "comment",
        "replay",
        "--json",
        "--priority",
    ] {
        assert!(
            script.stdout.contains(word),
            "{word} not in the bash completions"
        );
    }
}

/// The same commands against `casebridge serve` with `--remote`: a case
/// opened and commented through the console API reaches the GSEM
/// simulator; the login's [[serve.users]] entry is the operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_against_serve_with_remote() {
    const PASSWORD: &str = "correct horse battery staple";
    let rig = Rig::start(Options::new(Mode::Pull), common::seed("cli remote")).await;
    let serve = format!(
        "\n[serve]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n\
         [[serve.users]]\nname = \"ada-remote\"\npassword_hash = \"{hash}\"\noperator = \"ada\"\n",
        cert = rig.paths.server.cert.display(),
        key = rig.paths.server.key.display(),
        hash = casebridge::config::hash_password(PASSWORD).unwrap(),
    );
    let mut text = std::fs::read_to_string(&rig.config_path).unwrap();
    text.push_str(&serve);
    std::fs::write(&rig.config_path, text).unwrap();
    let mut new = NewIncident::new("Lustre OSS unreachable");
    new.description = "oss12 fails its health check".into();
    let incident = rig
        .servicenow
        .create_incident(&new)
        .unwrap()
        .get("number")
        .to_owned();
    let settings = rig.settings();
    let engine = Engine::start(&settings, StoreKind::Real).await.unwrap();
    let server = casebridge::serve::Server::start(&settings, engine)
        .await
        .unwrap();
    let store = rig.tool_store();
    wait_for_incident(&rig, &store, &incident).await;
    let url = server.url();
    let ca = rig.paths.ca.cert.display().to_string();
    let env = [
        ("CASEBRIDGE_REMOTE_USER", "ada-remote"),
        ("CASEBRIDGE_REMOTE_PASSWORD", PASSWORD),
        ("CASEBRIDGE_REMOTE_CA", ca.as_str()),
    ];
    let remote = |args: &[&str]| {
        let mut all = vec!["--remote", url.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>, stdin: Option<&'static str>| {
        let rig = &rig;
        let env = &env;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli_with(rig, &args, stdin, env).await
        }
    };

    let listed = run(remote(&["case", "list", "--json"]), None).await.ok();
    assert_eq!(listed.json(), json!({"cases": []}));
    let opened = run(
        remote(&[
            "case",
            "open",
            "--incident",
            &incident,
            "--system",
            "storage",
            "--priority",
            "critical-down",
            "--json",
        ]),
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(opened["case"]["tracking"], format!("{incident}_1"));
    assert_eq!(opened["case"]["system"], "storage");
    assert_eq!(opened["case"]["priority"], "critical-down");
    let tracking = format!("{incident}_1");
    let case_id = store
        .lock()
        .unwrap()
        .case_by_tracking_number(&tracking)
        .unwrap()
        .unwrap()
        .id;
    wait_until("GSEM's acknowledgement", &rig.ctx(), WAIT, || {
        common::case(&store, case_id).state == 3
    })
    .await;
    rig.gsem.hpe_accept(&incident).unwrap();
    wait_until("HPE's acceptance", &rig.ctx(), WAIT, || {
        common::case(&store, case_id).provider_id.is_some()
    })
    .await;
    // A second remote client on the event stream, with the case open: it
    // and the CLI see each other's comment.
    let console_dir = tempfile::tempdir().unwrap();
    let password = console_dir.path().join("password");
    std::fs::write(&password, PASSWORD).unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let remote_config = console_dir.path().join("remote.toml");
    std::fs::write(
        &remote_config,
        format!(
            "[remote]\nurl = \"{url}\"\nuser = \"ada-remote\"\npassword = {{ file = \"password\" }}\nca = \"{ca}\"\n"
        ),
    )
    .unwrap();
    let (mut stream, stream_task) = casebridge::console::remote::connect(
        &casebridge::config::remote::load(&remote_config).unwrap(),
    )
    .await
    .unwrap();
    stream
        .send(
            RequestId(1),
            Request::LoadCase {
                case: case_id,
                history: History::All,
            },
        )
        .unwrap();

    let commented = run(
        remote(&["case", "comment", &incident, "-"]),
        Some("sent through serve\n"),
    )
    .await
    .ok();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.recv().await {
            if let Event::CaseDetail(detail) = event
                && let Some(entry) = detail
                    .timeline
                    .iter()
                    .find(|t| t.text == "sent through serve")
            {
                return Some(entry.author.clone());
            }
        }
        None
    })
    .await
    .expect("the CLI's comment on the event stream within 10 s");
    assert_eq!(seen.as_deref(), Some("ada"));
    stream
        .send(
            RequestId(2),
            Request::Comment {
                case: case_id,
                text: "sent from the event stream".into(),
            },
        )
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = stream.recv().await {
            match event {
                Event::RequestAccepted {
                    request: RequestId(2),
                    case,
                } => return Ok(case),
                Event::RequestFailed {
                    request: RequestId(2),
                    reason,
                } => return Err(reason),
                _ => {}
            }
        }
        Err("the stream ended".to_owned())
    })
    .await
    .expect("an answer to the stream's comment within 10 s");
    assert_eq!(answer, Ok(Some(case_id)));
    let shown = run(remote(&["case", "show", &tracking, "--json"]), None)
        .await
        .ok()
        .json();
    let texts: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert!(
        texts.contains(&"sent through serve") && texts.contains(&"sent from the event stream"),
        "{texts:?}"
    );
    drop(stream);
    stream_task.await.unwrap();
    assert_eq!(
        commented.stdout,
        format!(
            "queued PROVIDE PROBLEM INFORMATION on case {tracking}; the engine sends it to HPE\n"
        )
    );
    let provider = common::case(&store, case_id).provider_id.unwrap();
    wait_until("the comment at GSEM", &rig.ctx(), WAIT, || {
        rig.gsem
            .received_comments_for(&provider)
            .contains(&"sent through serve".to_string())
    })
    .await;
    let note = store
        .lock()
        .unwrap()
        .journal_for_case(case_id)
        .unwrap()
        .into_iter()
        .find(|j| j.entry.text == "sent through serve")
        .unwrap();
    assert_eq!(note.entry.author, "ada");

    run(remote(&["case", "list", "--operator", "ada"]), None)
        .await
        .fails(
            2,
            "--operator \"ada\" cannot be used with a remote engine: serve's [[serve.users]] entry of your login names the operator",
        );
    let refused = cli_with(
        &rig,
        &["--remote", &url, "case", "list"],
        None,
        &[
            ("CASEBRIDGE_REMOTE_USER", "ada-remote"),
            ("CASEBRIDGE_REMOTE_PASSWORD", "wrong password here"),
            ("CASEBRIDGE_REMOTE_CA", ca.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (refused.code, refused.stdout.as_str()),
        (2, ""),
        "{refused:#?}"
    );
    assert!(
        refused
            .stderr
            .contains("refused the login of \"ada-remote\""),
        "{refused:#?}"
    );
    server.stop().await;
    let gone = run(remote(&["case", "list"]), None).await;
    assert_eq!((gone.code, gone.stdout.as_str()), (4, ""), "{gone:#?}");
    assert!(
        gone.stderr
            .starts_with(&format!("casebridge: cannot connect to {url}")),
        "{gone:#?}"
    );
}

/// `hash-password` prints an argon2 PHC string of the line on stdin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_password_hashes_the_line_on_stdin() {
    let rig = Rig::start(Options::new(Mode::Pull), common::seed("cli hash")).await;
    let hashed = cli(&rig, &["hash-password"], Some("correct horse battery\n"))
        .await
        .ok();
    let phc = hashed.stdout.strip_suffix('\n').unwrap();
    assert!(phc.starts_with("$argon2id$"), "{phc}");
    let parsed = casebridge::config::PasswordHash::parse(phc).unwrap();
    assert!(parsed.verify("correct horse battery"));
    assert!(!parsed.verify("correct horse battery\n"));
    cli(&rig, &["hash-password"], Some("short\n")).await.fails(
        1,
        "the password is shorter than 12 characters: choose a longer one",
    );
}

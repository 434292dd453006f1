use std::collections::BTreeMap;

use super::*;
use crate::store::prelude::*;
use crate::store::{CaseFilter, OutboxState, Role, Store};

/// The incident short description each seeded case starts with, and its
/// confirmed state once seeding is done (before the live loop moves them).
const EXPECTED: [(&str, u8); 10] = [
    ("nid004521 fails to boot", 5),
    ("HSN link errors on x1203c5r3j14", 4),
    ("Slingshot switch x1004c1r7b0 unreachable", 5),
    ("CDU 3 coolant flow alarm", 6),
    ("Lustre OSS perlmutter-oss017", 7),
    ("nid001337: GPU has fallen off the bus", 2),
    ("nid006012: uncorrectable ECC errors", 1),
    ("Blade x1302c2s4 BMC unresponsive", 5),
    ("Fabric manager reports cable CRC errors", 7),
    ("perlmutter-scratch OST0107 degraded", 3),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seeds_every_state_through_the_engine_and_cleans_up() {
    crate::tls::install_crypto_provider();
    let data = tempfile::tempdir().unwrap();
    let dir = demo_dir(data.path());
    let started = std::time::Instant::now();
    let demo = Demo::start(&dir).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "seeding took {took:?}");
    assert!(dir.join("config.toml").is_file());
    assert_eq!(demo.settings().store.path, dir.join("casebridge-demo.db"));

    {
        let store = demo.engine().store().lock().unwrap();
        assert!(store.is_demo(), "the demo's store must be marked as a demo");
        let incidents: BTreeMap<String, String> = demo
            .servicenow()
            .records("incident")
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.get("number").to_owned(),
                    r.get("short_description").to_owned(),
                )
            })
            .collect();
        let cases = store.list_cases(&CaseFilter::default()).unwrap();
        assert_eq!(cases.len(), 11, "{cases:#?}");
        let mut states = Vec::new();
        for (prefix, state) in EXPECTED {
            let mine: Vec<_> = cases
                .iter()
                .filter(|c| incidents[&c.incident_number].starts_with(prefix))
                .collect();
            let first = mine
                .first()
                .unwrap_or_else(|| panic!("no case for {prefix}"));
            // A live case may already have been answered by HPE.
            if state == 3 {
                assert!(matches!(first.state, 3 | 5), "{prefix}: {}", first.state);
            } else {
                assert_eq!(first.state, state, "{prefix}");
            }
            states.push(first.state);
            if first.state >= 5 {
                assert!(
                    first.provider_id.is_some(),
                    "{prefix} has no HPE case number"
                );
            }
        }
        // The second case on the BMC incident is live, like the scratch one.
        let bmc: Vec<_> = cases
            .iter()
            .filter(|c| incidents[&c.incident_number].starts_with("Blade x1302c2s4"))
            .collect();
        assert_eq!(bmc.len(), 2);
        assert_eq!(
            bmc[1].tracking_number,
            format!("{}_2", bmc[1].incident_number)
        );
        assert!(matches!(bmc[1].state, 3 | 5), "{bmc:#?}");
        // The note that crossed HPE's resolution: refused by GSEM, parked.
        let cdu = cases
            .iter()
            .find(|c| incidents[&c.incident_number].starts_with("CDU 3"))
            .unwrap();
        let parked = store.outbox_parked().unwrap();
        assert_eq!(parked.len(), 1, "{parked:#?}");
        assert_eq!(parked[0].case_id, cdu.id);
        assert_eq!(parked[0].transaction_name, "PROVIDE PROBLEM INFORMATION");
        assert_eq!(parked[0].state, OutboxState::Parked);
        assert!(
            parked[0]
                .last_error
                .as_deref()
                .unwrap_or_default()
                .contains("not valid in state"),
            "{parked:#?}"
        );

        // Tasks and part orders, from both the structured and the text form.
        let by_prefix = |prefix: &str| {
            cases
                .iter()
                .find(|c| incidents[&c.incident_number].starts_with(prefix))
                .unwrap()
                .id
        };
        let node = by_prefix("nid004521");
        let tasks = store.tasks_for_case(node).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task_id, "WO-3318842");
        let parts = store.parts_for_case(node).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].tracking_number.as_deref(), Some("774938210456"));
        let switch = by_prefix("Slingshot switch");
        let tasks = store.tasks_for_case(switch).unwrap();
        assert_eq!(tasks.len(), 1, "text-form onsite task");
        assert_eq!(tasks[0].task_id, "WO-3319007");
        let parts = store.parts_for_case(switch).unwrap();
        assert_eq!(parts.len(), 1, "text-form part order");
        assert_eq!(parts[0].order_id, "PO-7734388");
    }

    // A second engine on the demo store is refused by its lock; a tool
    // opens it beside the engine.
    assert!(Store::open(&dir.join("casebridge-demo.db"), Role::Tool).is_ok());

    demo.stop().await;
    assert!(!dir.exists(), "the demo directory is removed on stop");
}

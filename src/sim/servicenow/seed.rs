//! What the simulated instance starts with: users, groups and configuration
//! items always, and for the demo a dozen Perlmutter-style hardware
//! incidents with their journals.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::schema;
use super::state::{Instance, Viewer};
use super::{ExtraTable, INTEGRATION_USER, SimError, write_error};

#[derive(Clone, Debug)]
pub struct SeedUser {
    pub user_name: String,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug)]
pub struct SeedCi {
    pub name: String,
    pub sys_class_name: String,
    pub serial_number: String,
    pub location: String,
}

/// A journal entry made some time after the incident was opened.
#[derive(Clone, Debug)]
pub struct SeedNote {
    pub after: Duration,
    pub user: String,
    /// `true` for a work note, `false` for an additional comment.
    pub work_note: bool,
    pub text: String,
}

/// An incident to open, from a test or the demo seed. References name the
/// target by its display value (CI and group name) or user name.
#[derive(Clone, Debug)]
pub struct NewIncident {
    pub short_description: String,
    pub description: String,
    pub category: String,
    pub cmdb_ci: String,
    pub impact: u8,
    pub urgency: u8,
    /// Opens the incident; the integration user when empty.
    pub caller: String,
    pub assignment_group: String,
    pub assigned_to: String,
    /// Set after the notes; `""` leaves the incident New.
    pub state: String,
    pub hold_reason: String,
    pub close_code: String,
    pub close_notes: String,
    /// How long before the instance's "now" the incident was opened.
    pub opened_ago: Duration,
    pub notes: Vec<SeedNote>,
}

impl NewIncident {
    pub fn new(short_description: &str) -> Self {
        Self {
            short_description: short_description.to_owned(),
            description: String::new(),
            category: "hardware".to_owned(),
            cmdb_ci: String::new(),
            impact: 3,
            urgency: 3,
            caller: String::new(),
            assignment_group: String::new(),
            assigned_to: String::new(),
            state: String::new(),
            hold_reason: String::new(),
            close_code: String::new(),
            close_notes: String::new(),
            opened_ago: Duration::ZERO,
            notes: Vec::new(),
        }
    }

    fn user(instance: &Instance, user: &str) -> Result<String, SimError> {
        let user = if user.is_empty() {
            INTEGRATION_USER
        } else {
            user
        };
        instance
            .find_by(schema::USER, "user_name", user)
            .map(|_| user.to_owned())
            .ok_or_else(|| SimError::NoUser(user.to_owned()))
    }

    /// Opens the incident, writes its notes and final state, each at its own
    /// time, through the same write path as the API. Returns the sys_id.
    pub(crate) fn insert(
        &self,
        instance: &mut Instance,
        now: NaiveDateTime,
    ) -> Result<String, SimError> {
        let opened = now - chrono::Duration::from_std(self.opened_ago).unwrap_or_default();
        let caller = Self::user(instance, &self.caller)?;
        let fields = [
            ("short_description", self.short_description.clone()),
            ("description", self.description.clone()),
            ("category", self.category.clone()),
            ("cmdb_ci", self.cmdb_ci.clone()),
            ("impact", self.impact.to_string()),
            ("urgency", self.urgency.to_string()),
            ("caller_id", caller.clone()),
            ("assignment_group", self.assignment_group.clone()),
            ("assigned_to", self.assigned_to.clone()),
        ];
        let sys_id = write(instance, None, &fields, &caller, opened)?;
        let mut last = opened;
        for note in &self.notes {
            let user = Self::user(instance, &note.user)?;
            let at = (opened + chrono::Duration::from_std(note.after).unwrap_or_default()).min(now);
            let element = if note.work_note {
                "work_notes"
            } else {
                "comments"
            };
            write(
                instance,
                Some(&sys_id),
                &[(element, note.text.clone())],
                &user,
                at,
            )?;
            last = last.max(at);
        }
        if !self.state.is_empty() {
            let user = Self::user(instance, &self.assigned_to).unwrap_or(caller);
            let at = (last + chrono::Duration::minutes(5)).min(now);
            let fields = [
                ("state", self.state.clone()),
                ("hold_reason", self.hold_reason.clone()),
                ("close_code", self.close_code.clone()),
                ("close_notes", self.close_notes.clone()),
            ];
            write(instance, Some(&sys_id), &fields, &user, at)?;
        }
        Ok(sys_id)
    }
}

fn write(
    instance: &mut Instance,
    target: Option<&str>,
    fields: &[(&str, String)],
    user: &str,
    at: NaiveDateTime,
) -> Result<String, SimError> {
    let values: Vec<(String, String)> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    instance
        .write(schema::INCIDENT, target, &values, user, at, Viewer::Script)
        .map_err(|e| write_error(schema::INCIDENT, target, e))
}

#[derive(Clone, Debug)]
pub struct Seed {
    pub users: Vec<SeedUser>,
    /// Assignment group names.
    pub groups: Vec<String>,
    pub cis: Vec<SeedCi>,
    pub incidents: Vec<NewIncident>,
}

fn user(user_name: &str, name: &str) -> SeedUser {
    SeedUser {
        user_name: user_name.to_owned(),
        name: name.to_owned(),
        email: format!("{user_name}@example.org"),
    }
}

fn ci(name: &str, class: &str, serial: &str) -> SeedCi {
    SeedCi {
        name: name.to_owned(),
        sys_class_name: class.to_owned(),
        serial_number: serial.to_owned(),
        location: "Shyh Wang Hall, Berkeley".to_owned(),
    }
}

impl Seed {
    /// Users (the integration user among them), assignment groups and the
    /// Perlmutter configuration items; no incidents.
    pub fn basic() -> Self {
        Self {
            users: vec![
                user("admin", "System Administrator"),
                user(INTEGRATION_USER, "casebridge Integration"),
                user("jsmith", "Jordan Smith"),
                user("mchen", "Mei Chen"),
                user("rpatel", "Ravi Patel"),
                user("alee", "Alex Lee"),
            ],
            groups: [
                "HPC Operations",
                "Storage Systems",
                "Facilities",
                "Network Engineering",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            cis: vec![
                ci("Perlmutter", "cmdb_ci_cluster", "PM-HPE-EX-0001"),
                ci(
                    "perlmutter-scratch",
                    "cmdb_ci_storage_server",
                    "PM-LUSTRE-E1000-01",
                ),
                ci(
                    "Perlmutter Slingshot",
                    "cmdb_ci_ip_switch",
                    "PM-SS-FABRIC-01",
                ),
                ci("Perlmutter Facility Power", "cmdb_ci_pdu", "PM-PWR-0001"),
            ],
            incidents: Vec::new(),
        }
    }

    /// The basic seed plus a dozen open and recent hardware incidents.
    pub fn demo() -> Self {
        Self {
            incidents: demo_incidents(),
            ..Self::basic()
        }
    }

    pub(crate) fn apply(&self, instance: &mut Instance) -> Result<(), SimError> {
        let at = instance.now() - chrono::Duration::days(400);
        let mut insert = |table: &str, values: Vec<(&str, &str)>| {
            let values: Vec<(String, String)> = values
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            instance
                .write(table, None, &values, "system", at, Viewer::Script)
                .map(drop)
                .map_err(|e| write_error(table, None, e))
        };
        for u in &self.users {
            insert(
                schema::USER,
                vec![
                    ("user_name", &u.user_name),
                    ("name", &u.name),
                    ("email", &u.email),
                ],
            )?;
        }
        for g in &self.groups {
            insert(schema::GROUP, vec![("name", g)])?;
        }
        for c in &self.cis {
            insert(
                schema::CI,
                vec![
                    ("name", &c.name),
                    ("sys_class_name", &c.sys_class_name),
                    ("serial_number", &c.serial_number),
                    ("location", &c.location),
                ],
            )?;
        }
        let now = instance.now();
        for incident in &self.incidents {
            incident.insert(instance, now)?;
        }
        Ok(())
    }
}

/// The demo's mirror tables for HPE onsite tasks and part orders.
pub(crate) fn demo_mirror_tables() -> Vec<ExtraTable> {
    let table = |name: &str, fields: &[&str]| ExtraTable {
        name: name.to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    };
    // The field names of `config::TaskFields` / `config::PartFields` defaults.
    vec![
        table(
            "u_hpe_onsite_task",
            &[
                "u_hpe_id",
                "u_incident",
                "u_hpe_case",
                "u_status",
                "u_scheduled_start",
                "u_engineer_eta",
                "u_description",
            ],
        ),
        table(
            "u_hpe_part_order",
            &[
                "u_hpe_id",
                "u_incident",
                "u_hpe_case",
                "u_status",
                "u_part_number",
                "u_part_description",
                "u_quantity",
                "u_carrier",
                "u_tracking_number",
                "u_eta",
                "u_return_required",
                "u_return_status",
            ],
        ),
    ]
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn note(after: Duration, user: &str, work_note: bool, text: &str) -> SeedNote {
    SeedNote {
        after,
        user: user.to_owned(),
        work_note,
        text: text.to_owned(),
    }
}

struct Spec<'a> {
    short: &'a str,
    description: &'a str,
    ci: &'a str,
    impact: u8,
    urgency: u8,
    group: &'a str,
    assignee: &'a str,
    opened_ago: Duration,
}

fn incident(spec: Spec<'_>) -> NewIncident {
    NewIncident {
        description: spec.description.to_owned(),
        cmdb_ci: spec.ci.to_owned(),
        impact: spec.impact,
        urgency: spec.urgency,
        caller: "alee".to_owned(),
        assignment_group: spec.group.to_owned(),
        assigned_to: spec.assignee.to_owned(),
        opened_ago: spec.opened_ago,
        ..NewIncident::new(spec.short)
    }
}

fn demo_incidents() -> Vec<NewIncident> {
    vec![
        NewIncident {
            state: "2".into(),
            notes: vec![
                note(
                    minutes(20),
                    "jsmith",
                    true,
                    "Node drained in Slurm. Console shows it stuck in BIOS POST after the warm swap; reseated the blade, same result.",
                ),
                note(
                    hours(2),
                    "jsmith",
                    false,
                    "Opening an HPE case for a replacement node card.",
                ),
            ],
            ..incident(Spec {
                short: "nid004521 fails to boot after warm swap of blade x1104c3s2",
                description: "After the warm swap of blade x1104c3s2b0 the node nid004521 does not come back: hangs in POST, BMC reports 'Processor 1 IERR'. Node is drained.",
                ci: "Perlmutter",
                impact: 3,
                urgency: 2,
                group: "HPC Operations",
                assignee: "jsmith",
                opened_ago: hours(26),
            })
        },
        NewIncident {
            state: "2".into(),
            notes: vec![note(
                minutes(45),
                "alee",
                true,
                "Fabric manager shows 1.2e6 symbol errors/min on x1203c5r3j14p1; link flapped 14 times in an hour. Port disabled, traffic rerouted.",
            )],
            ..incident(Spec {
                short: "HSN link errors on x1203c5r3j14 (Slingshot port flapping)",
                description: "slingshot-fmctl reports high BER and repeated link down/up on x1203c5r3j14p1. Jobs in group 12 saw MPI timeouts.",
                ci: "Perlmutter Slingshot",
                impact: 2,
                urgency: 1,
                group: "Network Engineering",
                assignee: "alee",
                opened_ago: hours(9),
            })
        },
        NewIncident {
            state: "2".into(),
            notes: vec![
                note(
                    minutes(10),
                    "alee",
                    true,
                    "Switch does not answer on the management network; controller shows no heartbeat. 64 nodes in x1004 lost HSN.",
                ),
                note(
                    minutes(50),
                    "alee",
                    false,
                    "Power-cycled the switch blade, no change. Suspect failed Rosetta ASIC or switch controller.",
                ),
            ],
            ..incident(Spec {
                short: "Slingshot switch x1004c1r7b0 unreachable, 64 nodes lost HSN",
                description: "Rosetta switch x1004c1r7b0 stopped responding at 03:12. All nodes attached through it are down on the high-speed network.",
                ci: "Perlmutter Slingshot",
                impact: 1,
                urgency: 1,
                group: "Network Engineering",
                assignee: "alee",
                opened_ago: hours(5),
            })
        },
        NewIncident {
            state: "3".into(),
            hold_reason: "4".into(),
            notes: vec![note(
                hours(1),
                "rpatel",
                true,
                "Breaker B2 on PDU x1100-pdu2 tripped twice. Cabinet running on feed A only; waiting for the vendor to inspect the rectifier.",
            )],
            ..incident(Spec {
                short: "PDU x1100-pdu2 breaker trip, cabinet x1100 on a single feed",
                description: "Rectifier alarm followed by a breaker trip on PDU x1100-pdu2. No loss of nodes, but no redundancy.",
                ci: "Perlmutter Facility Power",
                impact: 2,
                urgency: 2,
                group: "Facilities",
                assignee: "rpatel",
                opened_ago: hours(50),
            })
        },
        NewIncident {
            state: "2".into(),
            notes: vec![note(
                minutes(30),
                "rpatel",
                true,
                "CDU 3 secondary loop flow at 60% of setpoint; pump P2 current high. Cabinets x1200-x1203 throttled by the controller.",
            )],
            ..incident(Spec {
                short: "CDU 3 coolant flow alarm, cabinets x1200-x1203 throttled",
                description: "Coolant distribution unit 3 raised a low-flow alarm. GPU nodes in the four cabinets it serves are power-capped.",
                ci: "Perlmutter",
                impact: 1,
                urgency: 2,
                group: "Facilities",
                assignee: "rpatel",
                opened_ago: hours(3),
            })
        },
        NewIncident {
            state: "2".into(),
            notes: vec![
                note(
                    minutes(15),
                    "mchen",
                    true,
                    "OST0042 degraded, rebuild onto hot spare started, ETA 18h. Drive slot 37 in enclosure 2 of perlmutter-oss017 reports medium errors.",
                ),
                note(
                    hours(4),
                    "mchen",
                    false,
                    "Need a replacement drive for slot 37 before the spare pool runs out.",
                ),
            ],
            ..incident(Spec {
                short: "Lustre OSS perlmutter-oss017: disk failure in OST0042, RAID rebuild",
                description: "perlmutter-oss017 failed drive in enclosure 2 slot 37; GridRAID rebuilding OST0042 onto the distributed spare.",
                ci: "perlmutter-scratch",
                impact: 2,
                urgency: 2,
                group: "Storage Systems",
                assignee: "mchen",
                opened_ago: hours(30),
            })
        },
        NewIncident {
            state: "1".into(),
            ..incident(Spec {
                short: "perlmutter-scratch OST0107 degraded: second drive predicted to fail",
                description: "SMART predictive failure on a second drive of OST0107 (perlmutter-oss034) while the first rebuild is still running. Risk of data loss on a second failure.",
                ci: "perlmutter-scratch",
                impact: 1,
                urgency: 2,
                group: "Storage Systems",
                assignee: "mchen",
                opened_ago: minutes(40),
            })
        },
        NewIncident {
            state: "2".into(),
            notes: vec![note(
                hours(1),
                "jsmith",
                true,
                "Xid 79 on GPU 2, node drained. Reproduced after reboot with dcgmi diag -r 3.",
            )],
            ..incident(Spec {
                short: "nid001337: GPU has fallen off the bus (Xid 79)",
                description: "GPU 2 of nid001337 disappeared during a job; nvidia-smi no longer lists it.",
                ci: "Perlmutter",
                impact: 3,
                urgency: 2,
                group: "HPC Operations",
                assignee: "jsmith",
                opened_ago: hours(20),
            })
        },
        incident(Spec {
            short: "nid006012: uncorrectable ECC errors on DIMM C1",
            description: "MCE log shows uncorrectable memory errors on DIMM C1 of nid006012; node drained by the health check.",
            ci: "Perlmutter",
            impact: 3,
            urgency: 3,
            group: "HPC Operations",
            assignee: "",
            opened_ago: hours(2),
        }),
        NewIncident {
            state: "2".into(),
            ..incident(Spec {
                short: "Blade x1302c2s4 BMC unresponsive, nid003516-nid003519 unmanageable",
                description: "Redfish on x1302c2s4b0 times out; the four nodes still run jobs but cannot be power-controlled.",
                ci: "Perlmutter",
                impact: 2,
                urgency: 3,
                group: "HPC Operations",
                assignee: "jsmith",
                opened_ago: hours(12),
            })
        },
        NewIncident {
            state: "6".into(),
            close_code: "Solved (Permanently)".into(),
            close_notes: "Replaced the failed system board on login23; node back in service."
                .into(),
            notes: vec![note(
                hours(3),
                "jsmith",
                false,
                "HPE replaced the system board; login23 passes diagnostics.",
            )],
            ..incident(Spec {
                short: "Login node login23 kernel panic on boot",
                description: "login23 panics during boot with machine check exceptions.",
                ci: "Perlmutter",
                impact: 2,
                urgency: 2,
                group: "HPC Operations",
                assignee: "jsmith",
                opened_ago: hours(72),
            })
        },
        incident(Spec {
            short: "Fabric manager reports cable CRC errors in group 12",
            description: "Rising CRC error counters on three optical cables between groups 12 and 17.",
            ci: "Perlmutter Slingshot",
            impact: 3,
            urgency: 2,
            group: "Network Engineering",
            assignee: "",
            opened_ago: minutes(90),
        }),
    ]
}

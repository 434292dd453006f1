//! `casebridge case|outbox|quarantine`: the console's operations for
//! scripts. Each command connects a console link, reads the engine's
//! snapshot, checks what it can before sending (the names, the state
//! table's refusals in the console's words), sends one request and waits
//! for its answer.

use std::io::{Read, Write};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::error::ScriptError;
use super::output::{self, ActionJson, CaseJson, PriorityArg};
use super::session::{Session, Source};
use crate::console::rules;
use crate::console::{CaseId, CaseSummary, OpenCase, Request, Snapshot, SystemChoice, state_words};
use crate::sis::TransactionName;

/// What `--json` prints, for `--help`.
pub const JSON_SHAPES: &str = "\
JSON (--json): one document on stdout; times are RFC 3339 UTC to the second.
  a case:   {incident, tracking, hpe_case|null, system, priority (normal|critical-degraded|
             critical-down), state, state_words, pending_state, pending_state_words, finished,
             workflow_status|null, updated, open_tasks, parts_in_transit,
             flags: {pending, failed, info_requested, overdue}}
  case list:        {cases: [case…]}
  case show:        {case, title, description, timeline: [{id, time, origin (local|hpe|servicenow),
                     author, kind, text, status (pending|sent|failed|received|not_sent),
                     reason|null, raw|null}], tasks: […], parts: […], unparsed_updates}
  case open|comment|close: {action, transaction, case}
  outbox list:      {queued, oldest_queued|null, parked: [{seq, incident, transaction, detail,
                     body, queued_at, attempts}]}
  outbox retry|drop: {action, transaction, seq, case}
  quarantine list:  {quarantine: [entry…]}; quarantine show: entry =
                    {id, reason, transaction|null, received_at, delivery_count, sha256, body}
  quarantine replay|discard: {action, id}
Exit status: see `casebridge --help`.";

/// Options of every scripting command.
#[derive(Debug, Clone, Copy, Args)]
pub struct ScriptOptions {
    /// Print one JSON document on stdout instead of lines for people.
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds to wait for each answer of the engine.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 15)]
    pub timeout: u64,
}

/// The scripting commands, at the top of the command line.
#[derive(Debug, Clone, Subcommand)]
pub enum ScriptCommand {
    /// Cases: list, show, open, comment, close.
    #[command(after_long_help = JSON_SHAPES)]
    Case(CaseArgs),
    /// Our messages to HPE: what is queued, what GSEM refused for good.
    #[command(after_long_help = JSON_SHAPES)]
    Outbox(OutboxArgs),
    /// Inbound messages that could not be applied.
    #[command(after_long_help = JSON_SHAPES)]
    Quarantine(QuarantineArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CaseArgs {
    #[command(subcommand)]
    pub command: CaseCommand,
    #[command(flatten)]
    pub options: ScriptOptions,
}

/// A case is named by its incident number (when the incident has one
/// case), its tracking number (`INC0010001_2`) or HPE's case number.
#[derive(Debug, Clone, Subcommand)]
pub enum CaseCommand {
    /// The cases, most recently updated first.
    List {
        /// Only the cases that are not finished (closed or not entitled).
        #[arg(long)]
        open: bool,
    },
    /// One case: its fields, timeline, onsite tasks and part orders.
    Show {
        /// Incident number, tracking number or HPE case number.
        case: String,
    },
    /// Open a case with HPE for an incident (queues a SERVICE REQUEST).
    Open(OpenArgs),
    /// Send a note to HPE (PROVIDE PROBLEM INFORMATION); it also reaches the incident.
    Comment {
        /// Incident number, tracking number or HPE case number.
        case: String,
        /// The text, or `-` to read it from stdin.
        text: String,
    },
    /// Close the case: CONFIRM CLOSE when HPE proposed a resolution, else REQUEST CLOSURE.
    Close {
        /// Incident number, tracking number or HPE case number.
        case: String,
        /// The closure notes (mandatory), or `-` to read them from stdin.
        notes: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct OpenArgs {
    /// The ServiceNow incident number, as casebridge has read it.
    #[arg(long)]
    pub incident: String,
    /// A configured system name; by default the one the incident's CI names,
    /// or the only one configured.
    #[arg(long)]
    pub system: Option<String>,
    /// Sent to HPE as the RequesterSeverity the config's [severity] maps it to.
    #[arg(long, value_enum, default_value_t)]
    pub priority: PriorityArg,
    /// The case's title (default: the incident's short description), or `-` for stdin.
    #[arg(long)]
    pub title: Option<String>,
    /// The problem description (default: the incident's), or `-` for stdin.
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct OutboxArgs {
    #[command(subcommand)]
    pub command: OutboxCommand,
    #[command(flatten)]
    pub options: ScriptOptions,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OutboxCommand {
    /// How many messages are queued, and the parked ones (refused by GSEM for good).
    List,
    /// Send a parked message again, as it is or with a corrected body.
    Retry {
        /// The parked message's sequence number (`outbox list`).
        seq: i64,
        /// The JSON body to send instead, or `-` to read it from stdin.
        #[arg(long, value_name = "JSON")]
        body: Option<String>,
    },
    /// Give up on a parked message (a SERVICE REQUEST cancels its case locally).
    Drop {
        /// The parked message's sequence number (`outbox list`).
        seq: i64,
    },
}

#[derive(Debug, Clone, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
    #[command(flatten)]
    pub options: ScriptOptions,
}

#[derive(Debug, Clone, Subcommand)]
pub enum QuarantineCommand {
    /// The open entries.
    List,
    /// One entry, with its body as received.
    Show { id: i64 },
    /// Put the message back in the inbox, to be applied again.
    Replay { id: i64 },
    /// Give up on the message.
    Discard { id: i64 },
}

impl ScriptCommand {
    pub fn options(&self) -> ScriptOptions {
        match self {
            ScriptCommand::Case(a) => a.options,
            ScriptCommand::Outbox(a) => a.options,
            ScriptCommand::Quarantine(a) => a.options,
        }
    }

    /// Replaces the text given as `-` by stdin's content, before anything
    /// connects; only one text may come from there.
    fn read_stdin(&mut self) -> Result<(), ScriptError> {
        let mut texts: Vec<(&'static str, &mut String)> = match self {
            ScriptCommand::Case(a) => match &mut a.command {
                CaseCommand::Comment { text, .. } => vec![("TEXT", text)],
                CaseCommand::Close { notes, .. } => vec![("NOTES", notes)],
                CaseCommand::Open(open) => [
                    ("--title", open.title.as_mut()),
                    ("--description", open.description.as_mut()),
                ]
                .into_iter()
                .filter_map(|(name, text)| Some((name, text?)))
                .collect(),
                CaseCommand::List { .. } | CaseCommand::Show { .. } => Vec::new(),
            },
            ScriptCommand::Outbox(a) => match &mut a.command {
                OutboxCommand::Retry {
                    body: Some(body), ..
                } => vec![("--body", body)],
                _ => Vec::new(),
            },
            ScriptCommand::Quarantine(_) => Vec::new(),
        };
        texts.retain(|(_, text)| text.as_str() == "-");
        match texts.as_mut_slice() {
            [] => Ok(()),
            [(_, text)] => {
                **text = read_stdin()?;
                Ok(())
            }
            [(first, _), (second, _), ..] => Err(ScriptError::TwoStdin(first, second)),
        }
    }
}

/// Runs one scripting command on the engine `source` names.
pub(crate) async fn run(
    mut command: ScriptCommand,
    source: &Source<'_>,
    out: &mut dyn Write,
) -> Result<(), ScriptError> {
    command.read_stdin()?;
    let options = command.options();
    let (mut session, snapshot) =
        Session::open(source, Duration::from_secs(options.timeout)).await?;
    let mut run = Run {
        session: &mut session,
        snapshot: &snapshot,
        json: options.json,
        out,
    };
    let outcome = match command {
        ScriptCommand::Case(a) => run.case(&a.command).await,
        ScriptCommand::Outbox(a) => run.outbox(&a.command).await,
        ScriptCommand::Quarantine(a) => run.quarantine(&a.command).await,
    };
    session.close().await;
    outcome
}

struct Run<'a> {
    session: &'a mut Session,
    snapshot: &'a Snapshot,
    json: bool,
    out: &'a mut dyn Write,
}

/// The words after an action that queued a message.
const SENT_BY_ENGINE: &str = "the engine sends it to HPE";

impl Run<'_> {
    async fn case(&mut self, command: &CaseCommand) -> Result<(), ScriptError> {
        match command {
            CaseCommand::List { open } => {
                let mut cases: Vec<&CaseSummary> = self
                    .snapshot
                    .cases
                    .iter()
                    .filter(|c| !(*open && c.finished()))
                    .collect();
                cases.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.tracking.cmp(&b.tracking)));
                output::cases(self.out, self.json, &cases)?;
            }
            CaseCommand::Show { case } => {
                let id = find_case(&self.snapshot.cases, case)?.id;
                let detail = self.session.detail(id).await?;
                output::detail(self.out, self.json, &detail)?;
            }
            CaseCommand::Open(args) => self.open(args).await?,
            CaseCommand::Comment { case, text } => {
                let case = find_case(&self.snapshot.cases, case)?;
                rules::check_comment(case, text)?;
                let request = Request::Comment {
                    case: case.id,
                    text: text.clone(),
                };
                let transaction = TransactionName::ProvideProblemInformation.canonical();
                self.case_action("comment", request, transaction).await?;
            }
            CaseCommand::Close { case, notes } => {
                let case = find_case(&self.snapshot.cases, case)?;
                let kind = rules::close_transaction(case, notes)?;
                let request = Request::Close {
                    case: case.id,
                    notes: notes.clone(),
                };
                self.case_action("close", request, Some(kind.transaction()))
                    .await?;
            }
        }
        Ok(())
    }

    async fn open(&mut self, args: &OpenArgs) -> Result<(), ScriptError> {
        let incident = self.session.incident(&args.incident).await?;
        let system = choose_system(
            &self.snapshot.systems,
            args.system.as_deref(),
            &incident.number,
            incident.ci.as_deref(),
        )?;
        let request = Request::OpenCase(OpenCase {
            incident: incident.number.clone(),
            system: system.name.clone(),
            priority: args.priority.into(),
            title: args.title.clone().unwrap_or(incident.short_description),
            description: args.description.clone().unwrap_or(incident.description),
        });
        self.case_action("open", request, TransactionName::ServiceRequest.canonical())
            .await
    }

    /// Sends a case action, then prints the case as it is afterwards.
    async fn case_action(
        &mut self,
        action: &'static str,
        request: Request,
        transaction: Option<&'static str>,
    ) -> Result<(), ScriptError> {
        let case = self.session.act(request, action).await?;
        let detail = match case {
            Some(id) => Some(self.session.detail(id).await?),
            None => None,
        };
        let summary = detail.as_ref().map(|d| &d.summary);
        let transaction = transaction.unwrap_or_default();
        let line = match (action, summary) {
            ("open", Some(c)) => format!(
                "queued {transaction} for incident {}: case {} on {} ({}); {SENT_BY_ENGINE}",
                c.incident,
                c.tracking,
                c.system,
                c.priority.label()
            ),
            (_, Some(c)) => format!(
                "queued {transaction} on case {}; {SENT_BY_ENGINE}",
                c.tracking
            ),
            (_, None) => format!("queued {transaction}; {SENT_BY_ENGINE}"),
        };
        let done = ActionJson {
            action,
            transaction: Some(transaction),
            seq: None,
            id: None,
            case: summary.map(CaseJson::from),
        };
        Ok(output::action(self.out, self.json, &done, &line)?)
    }

    async fn outbox(&mut self, command: &OutboxCommand) -> Result<(), ScriptError> {
        let (seq, request, action) = match command {
            OutboxCommand::List => {
                let snapshot = self.snapshot;
                return Ok(output::outbox(
                    self.out,
                    self.json,
                    &snapshot.health,
                    &snapshot.parked,
                )?);
            }
            OutboxCommand::Retry { seq, body } => {
                let request = match body.clone() {
                    Some(body) => Request::EditAndRetry { seq: *seq, body },
                    None => Request::RetryOutbox { seq: *seq },
                };
                (*seq, request, "retry")
            }
            OutboxCommand::Drop { seq } => (*seq, Request::DropOutbox { seq: *seq }, "drop"),
        };
        let parked = self
            .snapshot
            .parked
            .iter()
            .find(|p| p.seq == seq)
            .ok_or(ScriptError::NoParked(seq))?;
        let case = self.session.act(request, action).await?;
        let summary = self.summary_after(case).await?;
        let tracking = summary
            .as_ref()
            .map_or(parked.incident.as_str(), |c| c.tracking.as_str());
        let line = match action {
            "retry" => format!(
                "outbox message {seq} ({}) of case {tracking} queued again; {SENT_BY_ENGINE}",
                parked.transaction
            ),
            _ => format!(
                "outbox message {seq} ({}) of case {tracking} dropped",
                parked.transaction
            ),
        };
        let done = ActionJson {
            action,
            transaction: Some(&parked.transaction),
            seq: Some(seq),
            id: None,
            case: summary.as_ref().map(CaseJson::from),
        };
        Ok(output::action(self.out, self.json, &done, &line)?)
    }

    /// The summary of the case an action touched, as it is now.
    async fn summary_after(
        &mut self,
        case: Option<CaseId>,
    ) -> Result<Option<CaseSummary>, ScriptError> {
        Ok(match case {
            Some(id) => Some(self.session.detail(id).await?.summary),
            None => None,
        })
    }

    async fn quarantine(&mut self, command: &QuarantineCommand) -> Result<(), ScriptError> {
        let entry = |id: i64| {
            self.snapshot
                .quarantine
                .iter()
                .find(|q| q.id == id)
                .ok_or(ScriptError::NoQuarantine(id))
        };
        let (id, request, action, line) = match command {
            QuarantineCommand::List => {
                return Ok(output::quarantine(
                    self.out,
                    self.json,
                    &self.snapshot.quarantine,
                )?);
            }
            QuarantineCommand::Show { id } => {
                let found = entry(*id)?;
                return Ok(output::quarantine_entry(self.out, self.json, found)?);
            }
            QuarantineCommand::Replay { id } => (
                *id,
                Request::ReplayQuarantine { id: *id },
                "replay",
                format!("quarantine entry {id} put back in the inbox; the engine applies it"),
            ),
            QuarantineCommand::Discard { id } => (
                *id,
                Request::DiscardQuarantine { id: *id },
                "discard",
                format!("quarantine entry {id} discarded"),
            ),
        };
        entry(id)?;
        self.session.act(request, action).await?;
        let done = ActionJson {
            action,
            transaction: None,
            seq: None,
            id: Some(id),
            case: None,
        };
        Ok(output::action(self.out, self.json, &done, &line)?)
    }
}

/// The case `name` designates: a tracking number or HPE case number names
/// one; an incident number names its case when it has exactly one.
fn find_case<'a>(cases: &'a [CaseSummary], name: &str) -> Result<&'a CaseSummary, ScriptError> {
    let name = name.trim();
    if let Some(case) = cases
        .iter()
        .find(|c| c.tracking.eq_ignore_ascii_case(name) || c.provider_id.as_deref() == Some(name))
    {
        return Ok(case);
    }
    let mut of_incident: Vec<&CaseSummary> = cases
        .iter()
        .filter(|c| c.incident.eq_ignore_ascii_case(name))
        .collect();
    match of_incident.as_mut_slice() {
        [] => Err(ScriptError::NoCase(name.to_string())),
        [one] => Ok(*one),
        many => {
            many.sort_by(|a, b| a.tracking.cmp(&b.tracking));
            Err(ScriptError::Ambiguous {
                incident: many[0].incident.clone(),
                count: many.len(),
                choices: many
                    .iter()
                    .map(|c| format!("{} ({})", c.tracking, state_words(c.state)))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// The system a new case is opened on: the one asked for, else the one the
/// incident's CI names, else the only one configured.
fn choose_system<'a>(
    systems: &'a [SystemChoice],
    asked: Option<&str>,
    incident: &str,
    ci: Option<&str>,
) -> Result<&'a SystemChoice, ScriptError> {
    let choices = || {
        systems
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = asked {
        return systems
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ScriptError::UnknownSystem {
                name: name.to_string(),
                choices: choices(),
            });
    }
    if let Some(system) = ci.and_then(|ci| systems.iter().find(|s| s.matches_ci(ci))) {
        return Ok(system);
    }
    match systems {
        [only] => Ok(only),
        _ => Err(ScriptError::NoSystem {
            incident: incident.to_string(),
            choices: choices(),
        }),
    }
}

/// Stdin's whole content without its final line break(s), which `echo`
/// and editors add.
fn read_stdin() -> Result<String, ScriptError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(ScriptError::Stdin)?;
    let mut text = String::from_utf8(bytes).map_err(ScriptError::StdinNotUtf8)?;
    let kept = text.trim_end_matches(['\n', '\r']).len();
    text.truncate(kept);
    Ok(text)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::console::{CaseFlags, Priority};

    fn case(id: i64, incident: &str, n: u32, provider: Option<&str>, state: u8) -> CaseSummary {
        CaseSummary {
            id,
            incident: incident.into(),
            tracking: format!("{incident}_{n}"),
            provider_id: provider.map(String::from),
            system: "compute".into(),
            priority: Priority::Normal,
            state,
            pending_state: state,
            workflow_status: None,
            updated: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            open_tasks: 0,
            parts_in_transit: 0,
            flags: CaseFlags::default(),
        }
    }

    #[test]
    fn a_case_is_found_by_tracking_hpe_number_or_its_incident() {
        let cases = [
            case(1, "INC0010001", 1, Some("5000000001"), 7),
            case(2, "INC0010001", 2, None, 3),
            case(3, "INC0010002", 1, Some("5000000003"), 5),
        ];
        assert_eq!(find_case(&cases, "inc0010001_2").unwrap().id, 2);
        assert_eq!(find_case(&cases, "5000000001").unwrap().id, 1);
        assert_eq!(find_case(&cases, " INC0010002 ").unwrap().id, 3);
        assert_eq!(
            find_case(&cases, "INC0010001").unwrap_err().to_string(),
            "incident INC0010001 has 2 cases: name one by its tracking number: \
             INC0010001_1 (Closed), INC0010001_2 (Submitted)"
        );
        let missing = find_case(&cases, "INC9").unwrap_err();
        assert_eq!(missing.exit_code(), crate::cli::exit::NOT_FOUND);
    }

    #[test]
    fn the_system_comes_from_the_flag_the_ci_or_the_only_one() {
        let system = |name: &str, ci: &str| SystemChoice {
            name: name.into(),
            serial: format!("SN-{name}"),
            cis: vec![ci.into()],
        };
        let two = [system("compute", "ci-1"), system("storage", "ci-2")];
        let pick = |asked, ci| choose_system(&two, asked, "INC1", ci).map(|s| s.name.clone());
        assert_eq!(pick(Some("storage"), Some("ci-1")).unwrap(), "storage");
        assert_eq!(pick(None, Some("CI-2")).unwrap(), "storage");
        assert_eq!(
            pick(None, None).unwrap_err().to_string(),
            "which system? Incident INC1 names none of the configured ones: pass --system with one of compute, storage"
        );
        assert_eq!(
            pick(Some("disk"), None).unwrap_err().to_string(),
            "no system \"disk\" in the config: choose one of compute, storage"
        );
        let one = [system("compute", "ci-1")];
        assert_eq!(
            choose_system(&one, None, "INC1", None).unwrap().name,
            "compute"
        );
    }
}

//! `casebridge doctor`: checks a set-up end to end and says how to fix each
//! problem.
//!
//! One line per check, in this order: the config (as the loader checks it),
//! file permissions, the client certificate (PEM, key, validity, host name),
//! the CA bundles, GSEM (`GET` of its configuration endpoint over mutual
//! TLS), ServiceNow (credentials, the journal table) and the store
//! (integrity, schema version, lock holder, outbox, quarantine). A check
//! that cannot run because an earlier one failed is printed as `skip`.
//!
//! Exit status ([`DoctorReport::exit_code`]): 0 when no check failed, 1
//! otherwise. Warnings do not fail the run. A private key that others may
//! read is a failure, not a warning: whoever reads it can pose as this host
//! to HPE. A config or secret file that others may read is a warning.
//!
//! Nothing is changed anywhere, except that `--probe-journal INCIDENT`
//! writes one comment to that (test) incident to prove it can be read back.

mod certs;
mod files;
mod remote;
mod store;

use std::io;
use std::path::Path;

use serde::Serialize;

use crate::config::{self, Settings};

/// `casebridge doctor`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct DoctorArgs {
    /// Also write a probe comment to this ServiceNow test incident (number
    /// such as INC0010001, or sys_id) and read it back, which proves that the
    /// journal table is readable. Without it the journal check only reads.
    #[arg(long, value_name = "INCIDENT")]
    pub probe_journal: Option<String>,

    /// Print the checks as one JSON document instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth fixing, but casebridge works.
    Warn,
    /// casebridge will not work (or not safely) until this is fixed.
    Fail,
    /// Not run, because something it depends on failed first.
    Skip,
}

impl Status {
    /// The word that starts the line, padded so that names line up.
    fn tag(self) -> &'static str {
        match self {
            Status::Ok => "ok   ",
            Status::Warn => "warn ",
            Status::Fail => "FAIL ",
            Status::Skip => "skip ",
        }
    }
}

/// One checked thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub status: Status,
    /// What was checked: `config`, `key permissions`, `gsem`, …
    pub name: &'static str,
    /// What was found, without a final full stop.
    pub message: String,
    /// What to do about it; always present for a warning or a failure.
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: Status::Ok,
            name,
            message: message.into(),
            fix: None,
        }
    }

    pub(crate) fn warn(
        name: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            status: Status::Warn,
            name,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            status: Status::Fail,
            name,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn skip(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: Status::Skip,
            name,
            message: message.into(),
            fix: None,
        }
    }
}

/// `ok   config: /etc/casebridge/config.toml`,
/// `FAIL gsem: GET …: cannot connect: … Fix: …`.
impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}: {}", self.status.tag(), self.name, self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, ". Fix: {fix}")?;
        }
        Ok(())
    }
}

/// Every check of one run, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Whether no check failed (warnings and skips allowed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The process exit status: 0 when [`passed`](Self::passed), else 1.
    pub fn exit_code(&self) -> u8 {
        if self.passed() { 0 } else { 1 }
    }

    /// The first check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

/// Collects checks and prints each line as soon as it is known, so that a
/// slow network check shows what already passed.
pub(crate) struct Reporter<'w, W: io::Write> {
    out: &'w mut W,
    json: bool,
    report: DoctorReport,
}

impl<W: io::Write> Reporter<'_, W> {
    pub(crate) fn push(&mut self, check: Check) -> io::Result<()> {
        if !self.json {
            writeln!(self.out, "{check}")?;
        }
        self.report.checks.push(check);
        Ok(())
    }

    fn finish(self) -> io::Result<DoctorReport> {
        if self.json {
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "passed": self.report.passed(),
                "checks": self.report.checks,
            }))
            .map_err(io::Error::other)?;
            writeln!(self.out, "{text}")?;
        }
        Ok(self.report)
    }
}

/// Finds the config the way every command does (`config_path` is the
/// `--config` flag), loads it and runs every check, writing the report to
/// `out`. Only writing to `out` can fail; what the checks find is in the
/// report.
pub async fn run(
    config_path: Option<&Path>,
    args: &DoctorArgs,
    out: &mut impl io::Write,
) -> io::Result<DoctorReport> {
    let mut reporter = Reporter {
        out,
        json: args.json,
        report: DoctorReport::default(),
    };
    let settings = match config::locate(config_path) {
        Ok(Some(path)) => match config::load(&path) {
            Ok(settings) => Some(settings),
            Err(e) => {
                reporter.push(Check::fail(
                    "config",
                    e.to_string().trim_end_matches('.'),
                    "Correct the file as the message says, then run doctor again",
                ))?;
                None
            }
        },
        Ok(None) => {
            let default = config::default_config_file()
                .map_or_else(|| "a config file".to_owned(), |p| p.display().to_string());
            reporter.push(Check::fail(
                "config",
                format!(
                    "no config file: neither --config nor ${} names one and {default} does not exist, so casebridge would start the demo",
                    config::CONFIG_ENV
                ),
                format!("Create {default} from config.example.toml, or name the file with --config"),
            ))?;
            None
        }
        Err(e) => {
            reporter.push(Check::fail(
                "config",
                e.to_string().trim_end_matches('.'),
                "Name an existing file with --config or $CASEBRIDGE_CONFIG",
            ))?;
            None
        }
    };
    match settings {
        Some(settings) => check_loaded(&settings, args, &mut reporter).await?,
        None => reporter.push(Check::skip(
            "checks",
            "nothing else was checked: every other check needs a valid config",
        ))?,
    }
    reporter.finish()
}

/// Runs every check after the config on settings obtained elsewhere (the
/// demo's generated configuration, say). The config file's permissions are
/// checked when `settings.paths().config_file` exists.
pub async fn check_settings(
    settings: &Settings,
    args: &DoctorArgs,
    out: &mut impl io::Write,
) -> io::Result<DoctorReport> {
    let mut reporter = Reporter {
        out,
        json: args.json,
        report: DoctorReport::default(),
    };
    check_loaded(settings, args, &mut reporter).await?;
    reporter.finish()
}

async fn check_loaded<W: io::Write>(
    settings: &Settings,
    args: &DoctorArgs,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<()> {
    crate::tls::install_crypto_provider();
    let config_file = &settings.paths().config_file;
    let gsem = &settings.gsem;
    reporter.push(Check::ok(
        "config",
        format!(
            "{} (GSEM environment {}, {} system(s), {} operator(s))",
            config_file.display(),
            gsem.environment.as_str(),
            settings.systems.len(),
            settings.operators.len()
        ),
    ))?;
    for check in files::permissions(settings) {
        reporter.push(check)?;
    }
    let identity = certs::client_identity(gsem, chrono::Utc::now(), reporter)?;
    let gsem_roots = certs::ca_bundle(
        "gsem CA",
        gsem.ca_bundle.as_deref(),
        &format!("gsem.{}.ca_bundle", gsem.environment.as_str()),
        "GSEM's",
        reporter,
    )?;
    match (identity, gsem_roots) {
        (Some(identity), Some(roots)) => {
            reporter.push(remote::gsem(gsem, &identity, &roots).await)?;
        }
        _ => reporter.push(Check::skip(
            "gsem",
            "not contacted: fix the certificate problems above first",
        ))?,
    }
    let sn_roots = certs::ca_bundle(
        "servicenow CA",
        settings.servicenow.ca_bundle.as_deref(),
        "servicenow.ca_bundle",
        "the instance's",
        reporter,
    )?;
    match sn_roots {
        Some(roots) => {
            remote::servicenow(
                &settings.servicenow,
                roots,
                args.probe_journal.as_deref(),
                reporter,
            )
            .await?;
        }
        None => reporter.push(Check::skip(
            "servicenow",
            "not contacted: fix servicenow.ca_bundle first",
        ))?,
    }
    for check in store::checks(&settings.store.path) {
        reporter.push(check)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_line_up_and_carry_the_fix() {
        let ok = Check::ok("config", "/etc/casebridge/config.toml");
        assert_eq!(ok.to_string(), "ok   config: /etc/casebridge/config.toml");
        let fail = Check::fail("gsem", "GET x: cannot connect", "Check gsem.prod.base_url");
        assert_eq!(
            fail.to_string(),
            "FAIL gsem: GET x: cannot connect. Fix: Check gsem.prod.base_url"
        );
        let warn = Check::warn("secret permissions", "a", "b");
        assert_eq!(warn.to_string(), "warn secret permissions: a. Fix: b");
        assert_eq!(Check::skip("gsem", "c").to_string(), "skip gsem: c");
    }

    #[test]
    fn only_failures_fail_the_exit_status() {
        let mut report = DoctorReport {
            checks: vec![
                Check::ok("config", "x"),
                Check::warn("config permissions", "y", "z"),
                Check::skip("gsem", "w"),
            ],
        };
        assert!(report.passed());
        assert_eq!(report.exit_code(), 0);
        report.checks.push(Check::fail("store", "bad", "fix"));
        assert!(!report.passed());
        assert_eq!(report.exit_code(), 1);
        assert_eq!(report.failures().count(), 1);
        assert_eq!(report.check("store").map(|c| c.status), Some(Status::Fail));
    }

    #[test]
    fn json_output_is_one_document() {
        let mut out = Vec::new();
        let mut reporter = Reporter {
            out: &mut out,
            json: true,
            report: DoctorReport::default(),
        };
        reporter
            .push(Check::fail("gsem", "down", "start it"))
            .unwrap();
        reporter.finish().unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "passed": false,
                "checks": [{"status": "fail", "name": "gsem", "message": "down", "fix": "start it"}]
            })
        );
    }
}

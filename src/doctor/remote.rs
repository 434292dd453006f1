//! The two remote systems: GSEM's configuration endpoint over mutual TLS,
//! and ServiceNow's Table API (credentials, then the journal table).

use std::io;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::certs::Roots;
use super::{Check, Reporter};
use crate::config::{Gsem, ServiceNow, ServiceNowAuth};
use crate::gsem::pem::CheckedIdentity;
use crate::servicenow::{
    ClientOptions, Display, INCIDENT, JOURNAL, Query, Record, SnError, TableClient, TlsRoots,
    incident, journal,
};

/// Journal entries read per look: enough to find the probe among entries
/// that others wrote at the same moment.
const PAGE_SIZE: u32 = 20;

/// `GET <config_url>` with the client certificate and the agent key: GSEM
/// is reachable and accepts both when it answers 200 with a JSON body.
pub(super) async fn gsem(gsem: &Gsem, identity: &CheckedIdentity, roots: &Roots) -> Check {
    let env = gsem.environment.as_str();
    let url = gsem.config_url.as_str();
    let client = match gsem_client(gsem, identity, roots) {
        Ok(client) => client,
        Err(check) => return check,
    };
    let (Ok(header), Ok(mut value)) = (
        HeaderName::from_bytes(gsem.agent_key_header.as_bytes()),
        HeaderValue::from_str(gsem.agent_key.expose()),
    ) else {
        return Check::fail(
            "gsem",
            format!(
                "the agent key cannot be sent in the {} header",
                gsem.agent_key_header
            ),
            format!(
                "Check gsem.{env}.agent_key: it must be the key HPE issued, as plain text on one line"
            ),
        );
    };
    value.set_sensitive(true);
    let answer = match client.get(url).header(header, value).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            response.text().await.map(|body| (status, body))
        }
        Err(e) => Err(e),
    };
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(e) => return gsem_transport(url, env, gsem.request_timeout, &e),
    };
    let excerpt: String = body.chars().take(200).collect();
    match status {
        200 => match serde_json::from_str::<Value>(&body) {
            Ok(config) => {
                let agent = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_owned);
                let who = match (agent("AgentName"), agent("AgentType")) {
                    (Some(name), Some(kind)) => format!(" for agent {name} ({kind})"),
                    (Some(name), None) => format!(" for agent {name}"),
                    _ => String::new(),
                };
                Check::ok(
                    "gsem",
                    format!("GET {url}: 200 with its configuration{who}"),
                )
            }
            Err(_) => Check::fail(
                "gsem",
                format!("GET {url}: 200, but the body is not JSON ({excerpt:?})"),
                format!(
                    "Check gsem.{env}.base_url and config_path: they must name GSEM's configuration endpoint"
                ),
            ),
        },
        401 | 403 => Check::fail(
            "gsem",
            format!(
                "GET {url}: HTTP {status}: GSEM refuses our agent key or certificate ({excerpt:?})"
            ),
            format!(
                "Check gsem.{env}.agent_key (HPE issues one per environment) and that HPE registered this client certificate for {env}"
            ),
        ),
        404 => Check::fail(
            "gsem",
            format!("GET {url}: HTTP 404"),
            format!("Check gsem.{env}.base_url and config_path (default redfish/v1/gsem)"),
        ),
        _ => Check::fail(
            "gsem",
            format!("GET {url}: HTTP {status} ({excerpt:?})"),
            "Try again later; if it persists, give your GSEM team this line",
        ),
    }
}

fn gsem_client(
    gsem: &Gsem,
    identity: &CheckedIdentity,
    roots: &Roots,
) -> Result<reqwest::Client, Check> {
    let env = gsem.environment.as_str();
    let setup = |what: &str, e: reqwest::Error| {
        Check::fail(
            "gsem",
            format!("cannot set up the HTTPS client: {what}: {e}"),
            format!("Check gsem.{env}.client_cert, client_key and ca_bundle"),
        )
    };
    let identity =
        reqwest::Identity::from_pem(&identity.pem).map_err(|e| setup("client identity", e))?;
    let mut builder = reqwest::Client::builder()
        .identity(identity)
        .timeout(gsem.request_timeout)
        .connect_timeout(gsem.request_timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Roots::Pinned(pem) = roots {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| setup("CA bundle", e))?;
        builder = builder.tls_certs_only(certs);
    }
    builder.build().map_err(|e| setup("client", e))
}

/// Why a request got no HTTP answer, and what to do, naming the innermost
/// cause (reqwest's own text is only "error sending request").
fn gsem_transport(url: &str, env: &str, timeout: Duration, error: &reqwest::Error) -> Check {
    let (tls, cause) = crate::tls::innermost_cause(error);
    let message = if error.is_timeout() {
        format!("GET {url}: no answer within {} s", timeout.as_secs_f32())
    } else if tls {
        format!("GET {url}: TLS handshake failed: {cause}")
    } else if error.is_connect() {
        format!("GET {url}: cannot connect: {cause}")
    } else {
        format!("GET {url}: {cause}")
    };
    let fix = if error.is_timeout() {
        format!(
            "Check that this host can reach GSEM (firewall, proxy); raise gsem.{env}.request_timeout if GSEM is only slow"
        )
    } else if tls {
        format!(
            "If GSEM's certificate is not trusted, set gsem.{env}.ca_bundle to the CA that signs it; if GSEM refused ours, have HPE register this client certificate for {env}"
        )
    } else {
        format!(
            "Check gsem.{env}.base_url and that this host can reach it (DNS, firewall, proxy); if it is right, GSEM may be down: try again later"
        )
    };
    Check::fail("gsem", message, fix)
}

/// Lines `servicenow` (credentials, by reading the incidents casebridge
/// would sync) and `journal` (the journal table is readable: with a probe
/// comment written to `probe` and read back, else by reading only).
pub(super) async fn servicenow<W: io::Write>(
    sn: &ServiceNow,
    roots: Roots,
    probe: Option<&str>,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<()> {
    let user = match &sn.auth {
        ServiceNowAuth::Basic { user, .. } | ServiceNowAuth::OAuth { user, .. } => user.as_str(),
    };
    let options = ClientOptions {
        timeout: sn.request_timeout,
        page_size: PAGE_SIZE,
        tls_roots: match roots {
            Roots::System => TlsRoots::Platform,
            Roots::Pinned(pem) => TlsRoots::Only(pem),
        },
        ..ClientOptions::default()
    };
    let client = match TableClient::new(sn.instance_url.as_str(), sn.auth.clone(), options) {
        Ok(client) => client,
        Err(e) => {
            reporter.push(sn_failure("servicenow", &e, sn, user, "incident"))?;
            return skip_journal(reporter);
        }
    };
    match first_page(
        &client,
        &INCIDENT,
        Query::new().and_encoded(&sn.incident_query),
        &[incident::SYS_ID],
    )
    .await
    {
        Ok((_, total)) => {
            let matched = total
                .map(|n| format!(" ({n} incident(s) match servicenow.incident_query)"))
                .unwrap_or_default();
            reporter.push(Check::ok(
                "servicenow",
                format!(
                    "signed in to {} as {user}; the incident table answers{matched}",
                    sn.instance_url
                ),
            ))?;
        }
        Err(e) => {
            reporter.push(sn_failure("servicenow", &e, sn, user, "incident"))?;
            return skip_journal(reporter);
        }
    }
    let check = match probe {
        Some(incident) => probe_journal(&client, sn, user, incident).await,
        None => read_journal(&client, sn, user).await,
    };
    reporter.push(check)
}

fn skip_journal<W: io::Write>(reporter: &mut Reporter<'_, W>) -> io::Result<()> {
    reporter.push(Check::skip(
        "journal",
        "not checked: ServiceNow must answer first",
    ))
}

/// The first page of a query, and `X-Total-Count`.
async fn first_page(
    client: &TableClient,
    table: &crate::servicenow::TableDef,
    query: Result<Query, SnError>,
    fields: &[&'static str],
) -> Result<(Vec<Record>, Option<u64>), SnError> {
    let mut pager = client.pages(table, &query?, fields, Display::VALUES)?;
    let records = pager.next_page().await?.unwrap_or_default();
    Ok((records, pager.total_count()))
}

/// Without a probe: entries of the configured journal can be read. An
/// empty answer proves nothing, since the platform answers an ACL-hidden
/// table with an empty list.
async fn read_journal(client: &TableClient, sn: &ServiceNow, user: &str) -> Check {
    let field = sn.comment_journal.field();
    let query = Query::new()
        .eq(journal::ELEMENT, field)
        .order_by_desc(journal::SYS_CREATED_ON);
    match first_page(client, &JOURNAL, Ok(query), &[journal::SYS_ID]).await {
        Ok((records, total)) if !records.is_empty() => Check::ok(
            "journal",
            format!(
                "{} is readable ({} {field} entries)",
                JOURNAL.name(),
                total.unwrap_or(records.len() as u64)
            ),
        ),
        Ok((_, Some(total))) if total > 0 => Check::fail(
            "journal",
            format!(
                "{} counts {total} {field} entries but shows none to {user}: an ACL hides them",
                JOURNAL.name()
            ),
            journal_fix(sn, user),
        ),
        Ok(_) => Check::warn(
            "journal",
            format!(
                "{} shows no {field} entries to {user}: either there are none yet, or an ACL hides them (ServiceNow answers an empty list, not an error)",
                JOURNAL.name()
            ),
            "Run `casebridge doctor --probe-journal <test incident>`: it writes a probe comment and reads it back",
        ),
        Err(e) => sn_failure("journal", &e, sn, user, JOURNAL.name()),
    }
}

/// Writes a probe entry to the test incident and reads it back from the
/// journal table (or, where configured, from the incident's display value).
async fn probe_journal(client: &TableClient, sn: &ServiceNow, user: &str, wanted: &str) -> Check {
    let found = if is_sys_id(wanted) {
        client
            .get_record(
                &INCIDENT,
                wanted,
                &[incident::SYS_ID, incident::NUMBER],
                Display::VALUES,
            )
            .await
            .map(Some)
    } else {
        first_page(
            client,
            &INCIDENT,
            Ok(Query::new().eq(incident::NUMBER, wanted)),
            &[incident::SYS_ID, incident::NUMBER],
        )
        .await
        .map(|(records, _)| records.into_iter().next())
    };
    let record = match found {
        Ok(Some(record)) => record,
        Ok(None) | Err(SnError::NotFound { .. }) => {
            return Check::fail(
                "journal",
                format!("no incident {wanted} is visible to {user}"),
                "Name an existing test incident with --probe-journal, by number (INC0010001) or sys_id",
            );
        }
        Err(e) => return sn_failure("journal", &e, sn, user, "incident"),
    };
    let (Some(sys_id), number) = (record.sys_id(), record.text(incident::NUMBER)) else {
        return Check::fail(
            "journal",
            format!("ServiceNow's answer for incident {wanted} has no sys_id"),
            "Check that servicenow.instance_url is the instance's address",
        );
    };
    let number = number.unwrap_or(wanted);
    let field = sn.comment_journal.field();
    let probe = format!(
        "casebridge doctor probe {} (pid {}): checks that the journal can be read back; ignore it",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f UTC"),
        std::process::id()
    );
    let mut values = Map::new();
    values.insert(field.to_owned(), Value::String(probe.clone()));
    if let Err(e) = client
        .patch_record(&INCIDENT, sys_id, &values, Display::VALUES)
        .await
    {
        return sn_failure("journal", &e, sn, user, "incident");
    }
    let query = Query::new()
        .eq(journal::ELEMENT_ID, sys_id)
        .eq(journal::ELEMENT, field)
        .order_by_desc(journal::SYS_CREATED_ON);
    let entries = match first_page(client, &JOURNAL, Ok(query), &[journal::VALUE]).await {
        Ok((entries, _)) => entries,
        Err(e) => return sn_failure("journal", &e, sn, user, JOURNAL.name()),
    };
    if entries
        .iter()
        .any(|e| e.text(journal::VALUE).map(str::trim) == Some(probe.as_str()))
    {
        return Check::ok(
            "journal",
            format!(
                "wrote a probe to {field} of {number} and read it back from {}",
                JOURNAL.name()
            ),
        );
    }
    let hidden = format!(
        "wrote a probe to {field} of {number}, but {} does not show it to {user}: an ACL hides the journal table (ServiceNow answers an empty list, not an error)",
        JOURNAL.name()
    );
    if !sn.journal_fallback_to_display_value {
        return Check::fail("journal", hidden, journal_fix(sn, user));
    }
    match client
        .get_record(&INCIDENT, sys_id, &[field], Display::DISPLAY)
        .await
    {
        Ok(record)
            if record
                .display_value(field)
                .is_some_and(|text| text.contains(&probe)) =>
        {
            Check::warn(
                "journal",
                format!(
                    "{hidden}; the configured fallback reads it from the incident's display value"
                ),
                format!(
                    "Grant {user} read access to {}: the fallback works, but reads every entry as one text in the user's time zone",
                    JOURNAL.name()
                ),
            )
        }
        Ok(_) => Check::fail(
            "journal",
            format!(
                "{hidden}; the fallback does not show it in the incident's display value either"
            ),
            journal_fix(sn, user),
        ),
        Err(e) => sn_failure("journal", &e, sn, user, "incident"),
    }
}

fn journal_fix(sn: &ServiceNow, user: &str) -> String {
    let grant = format!(
        "Grant {user} read access to {} (an ACL on the table, or a role that has one)",
        JOURNAL.name()
    );
    if sn.journal_fallback_to_display_value {
        grant
    } else {
        format!(
            "{grant}, or set servicenow.journal_fallback_to_display_value = true to read journals from the incident's display value"
        )
    }
}

fn is_sys_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A failed Table API call as a check line, with the fix for the
/// configuration key or ServiceNow setting it points at.
fn sn_failure(
    name: &'static str,
    error: &SnError,
    sn: &ServiceNow,
    user: &str,
    table: &str,
) -> Check {
    let url = &sn.instance_url;
    match error {
        SnError::Credentials => Check::fail(
            name,
            format!("{url} refuses the password of {user} (HTTP 401)"),
            "Check servicenow.password and servicenow.user: the account must exist, be active, and may not be locked out",
        ),
        SnError::OAuthRefused => Check::fail(
            name,
            format!("{url}oauth_token.do refuses our OAuth client or the user {user}"),
            "Check servicenow.client_id and client_secret (System OAuth > Application Registry), and servicenow.user and password",
        ),
        SnError::Forbidden {
            action, message, ..
        } => Check::fail(
            name,
            format!("ServiceNow forbids {action}: {message}"),
            format!("Give {user} the role or ACL that allows it on {table}"),
        ),
        SnError::Transport { action, source } => Check::fail(
            name,
            format!(
                "cannot reach ServiceNow for {action}: {}",
                crate::tls::innermost_cause(source).1
            ),
            "Check servicenow.instance_url and that this host can reach it (DNS, firewall, proxy); for a private CA set servicenow.ca_bundle",
        ),
        SnError::RateLimited { .. } => Check::fail(
            name,
            error.to_string(),
            format!(
                "Wait a minute and run doctor again; if it persists, ask the ServiceNow admins about {user}'s rate limit"
            ),
        ),
        SnError::ClientSetup(_) => Check::fail(
            name,
            error.to_string(),
            "Check that servicenow.ca_bundle holds PEM certificates",
        ),
        _ => Check::fail(
            name,
            error.to_string(),
            "Check that servicenow.instance_url is the instance's address; if it is, give your ServiceNow admins this line",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_ids_are_told_from_numbers() {
        assert!(is_sys_id("8f3a6c2e1b7d4e509a1c2d3e4f5a6b7c"));
        assert!(!is_sys_id("INC0010001"));
        assert!(!is_sys_id("8f3a6c2e1b7d4e509a1c2d3e4f5a6b7"));
    }
}

//! From the file as written to [`Settings`]: defaults, cross-field rules,
//! secrets read, paths resolved against the config directory.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use super::error::{ConfigError, KeyError};
use super::raw::*;
use super::secret::{Secret, SecretRef};
use super::settings::*;
use super::values::HumanDuration;
use super::{LOG_ENV, defaults};

pub(super) type Checked<T> = Result<T, KeyError>;

/// Turns the parsed file into settings, checking sections in file order so
/// the first problem reported is the first in the file. Relative paths start
/// at `config_file`'s directory; `default_data_dir` is the `directories`
/// data dir, if the user has one.
pub(crate) fn settings(
    raw: RawConfig,
    config_file: &Path,
    default_data_dir: Option<PathBuf>,
) -> Result<Settings, ConfigError> {
    let env_log = env_log_filter()?;
    build(raw, config_file, default_data_dir, env_log).map_err(|e| e.into_config_error(config_file))
}

fn build(
    raw: RawConfig,
    config_file: &Path,
    default_data_dir: Option<PathBuf>,
    env_log: Option<Log>,
) -> Checked<Settings> {
    let config_dir = config_file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let check = Checker { base: &config_dir };
    let site = check.site(raw.site)?;
    let operators = check.operators(raw.operators)?;
    let systems = check.systems(raw.systems)?;
    let gsem = check.gsem(raw.gsem)?;
    let servicenow = check.servicenow(raw.servicenow)?;
    let severity = check.severity(raw.severity)?;
    let sync = SyncSettings {
        overdue_after: dur(
            raw.sync.and_then(|s| s.overdue_after),
            defaults::OVERDUE_AFTER,
        ),
    };
    let updates = check.updates(raw.updates)?;
    let store = check.store(raw.store, default_data_dir.as_deref())?;
    let log = match env_log {
        Some(log) => log,
        None => log_from_file(raw.log)?,
    };
    let ui = check.ui(raw.ui)?;
    let serve = check.serve(raw.serve, &operators)?;
    let data_dir = match default_data_dir {
        Some(dir) => dir,
        None => store
            .path
            .parent()
            .map_or_else(|| config_dir.clone(), Path::to_path_buf),
    };
    Ok(Settings {
        site,
        operators,
        systems,
        gsem,
        servicenow,
        severity,
        sync,
        updates,
        store,
        log,
        ui,
        serve,
        paths: Paths {
            config_file: config_file.to_path_buf(),
            config_dir,
            data_dir,
        },
    })
}

fn check_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|e| format!("{filter:?} is not a log filter ({e})"))
}

const FILTER_FIX: &str = "Write directives such as \"info\" or \"casebridge=debug,warn\"";

/// `$CASEBRIDGE_LOG` when it is set and not empty: it overrides `log.filter`.
pub(crate) fn env_log_filter() -> Result<Option<Log>, ConfigError> {
    match std::env::var(LOG_ENV) {
        Ok(filter) if !filter.trim().is_empty() => match check_filter(&filter) {
            Ok(()) => Ok(Some(Log { filter })),
            Err(problem) => Err(ConfigError::BadEnv {
                var: LOG_ENV,
                message: format!("{problem}. {FILTER_FIX}, or unset {LOG_ENV}."),
            }),
        },
        _ => Ok(None),
    }
}

fn log_from_file(raw: Option<RawLog>) -> Checked<Log> {
    let filter = raw
        .and_then(|l| l.filter)
        .unwrap_or_else(|| defaults::LOG_FILTER.to_owned());
    check_filter(&filter).map_err(|problem| KeyError::new("log.filter", problem, FILTER_FIX))?;
    Ok(Log { filter })
}

pub(super) fn dur(value: Option<HumanDuration>, default: Duration) -> Duration {
    value.map_or(default, |d| d.0)
}

pub(super) fn required<T>(key: &str, value: Option<T>, fix: &str) -> Checked<T> {
    value.ok_or_else(|| KeyError::new(key, "required key is missing", fix))
}

pub(super) fn text(key: &str, value: String) -> Checked<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(KeyError::new(key, "is empty", "Write a value"));
    }
    Ok(trimmed.to_owned())
}

fn optional_text(key: &str, value: Option<String>) -> Checked<Option<String>> {
    value.map(|v| text(key, v)).transpose()
}

/// A value that goes into a SIS structured field (`TAG=value;...`).
fn structured(key: &str, value: String) -> Checked<String> {
    let value = text(key, value)?;
    if value.contains(';') {
        return Err(KeyError::new(
            key,
            format!("{value:?} contains `;`, which separates SIS structured fields"),
            "Remove the `;`: write the value exactly as it appears on the HPE contract",
        ));
    }
    Ok(value)
}

fn email(key: &str, value: String) -> Checked<String> {
    let value = text(key, value)?;
    let looks_right = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !looks_right {
        return Err(KeyError::new(
            key,
            format!("{value:?} is not an email address"),
            "Write it as name@example.org",
        ));
    }
    Ok(value)
}

fn phone(key: &str, value: String) -> Checked<String> {
    let value = text(key, value)?;
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || digits < 7 {
        return Err(KeyError::new(
            key,
            format!("{value:?} is not a phone number"),
            "Write digits, optionally with + - ( ) . and spaces, e.g. \"5104866821\"",
        ));
    }
    Ok(value)
}

/// An http(s) URL normalised to end in `/`, https unless plain http is
/// allowed for a loopback host (tests and the demo).
pub(super) fn base_url(
    key: &str,
    value: String,
    allow_insecure_http: bool,
    fix: &str,
) -> Checked<Url> {
    let mut url = Url::parse(value.trim())
        .map_err(|e| KeyError::new(key, format!("{value:?} is not a URL ({e})"), fix))?;
    let loopback = match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http && loopback => {}
        "http" if allow_insecure_http => {
            return Err(KeyError::new(
                key,
                format!("{value:?} is plain http to a host that is not loopback"),
                "Use https; allow_insecure_http only permits http to 127.0.0.1, ::1 or localhost",
            ));
        }
        _ => {
            return Err(KeyError::new(
                key,
                format!("{value:?} is not an https URL"),
                fix,
            ));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(KeyError::new(
            key,
            format!("{value:?} has a query or fragment"),
            "Write only scheme, host, port and path",
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// An endpoint path relative to a base URL.
fn relative_path(key: &str, value: String) -> Checked<String> {
    let value = text(key, value)?;
    if value.starts_with('/') {
        return Err(KeyError::new(
            key,
            format!("{value:?} starts with `/`, which would discard the base URL's own path"),
            format!("Write it relative: {:?}", value.trim_start_matches('/')),
        ));
    }
    if value.contains(['?', '#']) || value.contains("://") {
        return Err(KeyError::new(
            key,
            format!("{value:?} is not a path"),
            "Write a path such as \"redfish/v1/message\"",
        ));
    }
    Ok(value)
}

/// A path our own listener answers on.
fn listen_path(key: &str, value: Option<String>, default: &str) -> Checked<String> {
    let value = text(key, value.unwrap_or_else(|| default.to_owned()))?;
    if !value.starts_with('/') || value.contains(['?', '#', ' ']) {
        return Err(KeyError::new(
            key,
            format!("{value:?} is not an absolute URL path"),
            format!("Write a path that starts with `/`, such as {default:?}"),
        ));
    }
    Ok(value)
}

pub(super) fn listen_addr(key: &str, value: String) -> Checked<SocketAddr> {
    value.trim().parse().map_err(|_| {
        KeyError::new(
            key,
            format!("{value:?} is not a listen address"),
            "Write an IP address and port, e.g. \"0.0.0.0:8443\" or \"[::]:8443\"",
        )
    })
}

fn ensure_backoff(prefix: &str, start: Duration, cap: Duration) -> Checked<Backoff> {
    if start > cap {
        return Err(KeyError::new(
            format!("{prefix}.backoff_start"),
            format!(
                "{} is longer than backoff_cap {}",
                fmt_duration(start),
                fmt_duration(cap)
            ),
            "Make backoff_start at most backoff_cap, or raise backoff_cap",
        ));
    }
    Ok(Backoff { start, cap })
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// A ServiceNow table or field name. An unknown field in a query is
/// silently dropped by ServiceNow and widens the query, so typos must fail
/// here rather than there.
fn sn_name(key: &str, value: Option<String>, default: &str) -> Checked<String> {
    let value = value.unwrap_or_else(|| default.to_owned());
    let mut chars = value.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(KeyError::new(
            key,
            format!("{value:?} is not a ServiceNow table or field name"),
            "Use the name (not the label): lower case letters, digits and _, e.g. \"u_hpe_id\"",
        ));
    }
    Ok(value)
}

pub(super) fn reject_unused<T>(key: &str, value: &Option<T>, used_with: &str) -> Checked<()> {
    if value.is_some() {
        return Err(KeyError::new(
            key,
            format!("is only used with {used_with}"),
            format!("Remove it, or set {used_with}"),
        ));
    }
    Ok(())
}

pub(super) struct Checker<'a> {
    pub(super) base: &'a Path,
}

impl Checker<'_> {
    fn resolve(&self, path: &Path) -> PathBuf {
        self.base.join(path)
    }

    /// A file that must be readable now (certificates, keys, CA bundles).
    pub(super) fn readable_file(&self, key: &str, path: &Path) -> Checked<PathBuf> {
        let resolved = self.resolve(path);
        match std::fs::File::open(&resolved) {
            Ok(_) if resolved.is_file() => Ok(resolved),
            Ok(_) => Err(KeyError::new(
                key,
                format!("{} is not a file", resolved.display()),
                "Name the PEM file itself",
            )),
            Err(e) => Err(KeyError::new(
                key,
                format!("cannot read {}: {e}", resolved.display()),
                "Check the path (relative paths start at the config file's directory) and that casebridge's user may read it",
            )),
        }
    }

    fn secret(&self, key: &str, secret: &SecretRef) -> Checked<Secret> {
        secret.resolve(key, self.base)
    }

    fn contact(&self, key: &str, raw: RawContact) -> Checked<Contact> {
        Ok(Contact {
            first_name: text(&format!("{key}.first_name"), raw.first_name)?,
            last_name: text(&format!("{key}.last_name"), raw.last_name)?,
            phone: phone(&format!("{key}.phone"), raw.phone)?,
            email: email(&format!("{key}.email"), raw.email)?,
        })
    }

    fn site(&self, raw: RawSite) -> Checked<Site> {
        let a = raw.address;
        let country = text("site.address.country", a.country)?;
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(KeyError::new(
                "site.address.country",
                format!("{country:?} is not a two-letter country code"),
                "Use the ISO 3166 code in capitals, e.g. \"US\"",
            ));
        }
        Ok(Site {
            organization: text("site.organization", raw.organization)?,
            address: Address {
                street: text("site.address.street", a.street)?,
                street2: optional_text("site.address.street2", a.street2)?,
                city: text("site.address.city", a.city)?,
                region: text("site.address.region", a.region)?,
                postal_code: text("site.address.postal_code", a.postal_code)?,
                country,
            },
            contact: self.contact("site.contact", raw.contact)?,
            alternate_contact: self.contact("site.alternate_contact", raw.alternate_contact)?,
        })
    }

    fn operators(&self, raw: Vec<RawOperator>) -> Checked<Vec<Operator>> {
        if raw.is_empty() {
            return Err(KeyError::new(
                "operators",
                "no operator is configured",
                "Add an [[operators]] table for each person who opens cases",
            ));
        }
        let mut ids = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, o)| {
                let key = format!("operators[{i}]");
                let id = text(&format!("{key}.id"), o.id)?;
                if !ids.insert(id.clone()) {
                    return Err(KeyError::new(
                        format!("{key}.id"),
                        format!("{id:?} is used by another operator"),
                        "Give each operator a different id",
                    ));
                }
                Ok(Operator {
                    id,
                    first_name: text(&format!("{key}.first_name"), o.first_name)?,
                    last_name: text(&format!("{key}.last_name"), o.last_name)?,
                    phone: o
                        .phone
                        .map(|p| phone(&format!("{key}.phone"), p))
                        .transpose()?,
                    email: o
                        .email
                        .map(|e| email(&format!("{key}.email"), e))
                        .transpose()?,
                })
            })
            .collect()
    }

    fn systems(&self, raw: Vec<RawSystem>) -> Checked<Vec<System>> {
        if raw.is_empty() {
            return Err(KeyError::new(
                "systems",
                "no system is configured",
                "Add a [[systems]] table for each HPE system under contract",
            ));
        }
        let mut names = HashSet::new();
        let mut serials = HashSet::new();
        let mut cis = HashSet::new();
        let unique = |seen: &mut HashSet<String>, key: String, value: &str, what: &str| {
            if seen.insert(value.to_owned()) {
                Ok(())
            } else {
                Err(KeyError::new(
                    key,
                    format!("{value:?} is already the {what} of another system"),
                    format!("Give each [[systems]] table its own {what}"),
                ))
            }
        };
        raw.into_iter()
            .enumerate()
            .map(|(i, s)| {
                let key = format!("systems[{i}]");
                let system = System {
                    name: text(&format!("{key}.name"), s.name)?,
                    serial: structured(&format!("{key}.serial"), s.serial)?,
                    contract: structured(&format!("{key}.contract"), s.contract)?,
                    cmdb_ci: text(&format!("{key}.cmdb_ci"), s.cmdb_ci)?,
                    product_number: s
                        .product_number
                        .map(|p| structured(&format!("{key}.product_number"), p))
                        .transpose()?,
                };
                unique(&mut names, format!("{key}.name"), &system.name, "name")?;
                unique(
                    &mut serials,
                    format!("{key}.serial"),
                    &system.serial,
                    "serial",
                )?;
                unique(
                    &mut cis,
                    format!("{key}.cmdb_ci"),
                    &system.cmdb_ci,
                    "cmdb_ci",
                )?;
                Ok(system)
            })
            .collect()
    }

    fn gsem(&self, raw: RawGsem) -> Checked<Gsem> {
        let (environment, table) = match raw.environment {
            RawEnvironment::Dev => (Environment::Dev, raw.dev),
            RawEnvironment::Prod => (Environment::Prod, raw.prod),
        };
        let name = environment.as_str();
        let prefix = format!("gsem.{name}");
        let env = table.ok_or_else(|| {
            KeyError::new(
                &prefix,
                format!("the table is missing, but gsem.environment = {name:?} selects it"),
                format!("Add a [gsem.{name}] table (config.example.toml has one), or select the other environment"),
            )
        })?;
        let key = |k: &str| format!("{prefix}.{k}");
        let fix_active = format!("Add it to [gsem.{name}]: it is the active environment");

        let base_url = base_url(
            &key("base_url"),
            required(&key("base_url"), env.base_url, &fix_active)?,
            env.allow_insecure_http.unwrap_or(false),
            "Use the https:// address your GSEM team gave you",
        )?;
        let join = |k: &str, path: String| -> Checked<Url> {
            let path = relative_path(&key(k), path)?;
            base_url.join(&path).map_err(|e| {
                KeyError::new(
                    key(k),
                    format!("{path:?} does not join onto the base URL ({e})"),
                    "Write a path such as \"redfish/v1/message\"",
                )
            })
        };
        let config_url = join(
            "config_path",
            env.config_path
                .unwrap_or_else(|| defaults::GSEM_CONFIG_PATH.into()),
        )?;
        let message_url = join(
            "message_path",
            env.message_path
                .unwrap_or_else(|| defaults::GSEM_MESSAGE_PATH.into()),
        )?;
        let agent_key_header = env
            .agent_key_header
            .unwrap_or_else(|| defaults::AGENT_KEY_HEADER.into());
        if reqwest::header::HeaderName::from_bytes(agent_key_header.as_bytes()).is_err() {
            return Err(KeyError::new(
                key("agent_key_header"),
                format!("{agent_key_header:?} is not an HTTP header name"),
                "Write a header name such as \"X-Agent-Key\"",
            ));
        }
        let agent_key = self.secret(
            &key("agent_key"),
            &required(
                &key("agent_key"),
                env.agent_key,
                "Add agent_key = { env = \"NAME\" } or { file = \"path\" } with the key HPE issued",
            )?,
        )?;
        let agent = |k: &str, v: Option<String>| -> Checked<String> {
            text(
                &key(k),
                required(
                    &key(k),
                    v,
                    "Add it: your GSEM team tells you the destination agent's name and type",
                )?,
            )
        };
        let client_cert = self.readable_file(
            &key("client_cert"),
            &required(&key("client_cert"), env.client_cert, &fix_active)?,
        )?;
        let client_key = self.readable_file(
            &key("client_key"),
            &required(&key("client_key"), env.client_key, &fix_active)?,
        )?;
        let ca_bundle = env
            .ca_bundle
            .map(|p| self.readable_file(&key("ca_bundle"), &p))
            .transpose()?;
        let backoff = ensure_backoff(
            &prefix,
            dur(env.backoff_start, defaults::GSEM_BACKOFF_START),
            dur(env.backoff_cap, defaults::GSEM_BACKOFF_CAP),
        )?;
        let delivery = match env.mode.unwrap_or(RawMode::Pull) {
            RawMode::Pull => Delivery::Pull {
                poll_interval: dur(env.poll_interval, defaults::GSEM_POLL_INTERVAL),
            },
            RawMode::Push => Delivery::Push(self.webhook(
                &key("webhook"),
                env.webhook.ok_or_else(|| {
                    KeyError::new(
                        key("webhook"),
                        "the table is missing, but mode = \"push\" needs it",
                        format!(
                            "Add a [gsem.{name}.webhook] table with listen and auth, or set mode = \"pull\""
                        ),
                    )
                })?,
                &client_cert,
                &client_key,
            )?),
        };
        Ok(Gsem {
            environment,
            base_url: base_url.clone(),
            config_url,
            message_url,
            agent_key_header,
            agent_key,
            remote_agent_name: agent("remote_agent_name", env.remote_agent_name)?,
            remote_agent_type: agent("remote_agent_type", env.remote_agent_type)?,
            client_cert,
            client_key,
            ca_bundle,
            request_timeout: dur(env.request_timeout, defaults::REQUEST_TIMEOUT),
            backoff,
            inbound_body_limit: env
                .inbound_body_limit
                .map_or(defaults::INBOUND_BODY_LIMIT, |s| s.0),
            delivery,
        })
    }

    fn webhook(
        &self,
        prefix: &str,
        raw: RawWebhook,
        client_cert: &Path,
        client_key: &Path,
    ) -> Checked<Webhook> {
        let key = |k: &str| format!("{prefix}.{k}");
        let listen = listen_addr(
            &key("listen"),
            required(
                &key("listen"),
                raw.listen,
                "Add listen = \"0.0.0.0:8443\": the address GSEM's pushes reach",
            )?,
        )?;
        let path = listen_path(&key("path"), raw.path, defaults::WEBHOOK_PATH)?;
        let tls_cert = match raw.tls_cert {
            Some(p) => self.readable_file(&key("tls_cert"), &p)?,
            None => client_cert.to_path_buf(),
        };
        let tls_key = match raw.tls_key {
            Some(p) => self.readable_file(&key("tls_key"), &p)?,
            None => client_key.to_path_buf(),
        };
        let auth_fix =
            "Add auth = \"client_cert\", \"basic\" or \"bearer\": how the webhook recognises GSEM";
        let auth = match required(&key("auth"), raw.auth, auth_fix)? {
            RawCallerAuth::ClientCert => {
                reject_unused(&key("user"), &raw.user, "auth = \"basic\"")?;
                reject_unused(&key("password"), &raw.password, "auth = \"basic\"")?;
                reject_unused(&key("token"), &raw.token, "auth = \"bearer\"")?;
                let ca = required(
                    &key("client_ca"),
                    raw.client_ca,
                    "Add client_ca = \"path.pem\": the CA that signs GSEM's client certificate",
                )?;
                CallerAuth::ClientCert {
                    ca: self.readable_file(&key("client_ca"), &ca)?,
                }
            }
            RawCallerAuth::Basic => {
                reject_unused(&key("client_ca"), &raw.client_ca, "auth = \"client_cert\"")?;
                reject_unused(&key("token"), &raw.token, "auth = \"bearer\"")?;
                let user = required(&key("user"), raw.user, "Add the user name GSEM sends")?;
                let password = required(
                    &key("password"),
                    raw.password,
                    "Add password = { env = \"NAME\" } or { file = \"path\" }",
                )?;
                CallerAuth::Basic {
                    user: text(&key("user"), user)?,
                    password: self.secret(&key("password"), &password)?,
                }
            }
            RawCallerAuth::Bearer => {
                reject_unused(&key("client_ca"), &raw.client_ca, "auth = \"client_cert\"")?;
                reject_unused(&key("user"), &raw.user, "auth = \"basic\"")?;
                reject_unused(&key("password"), &raw.password, "auth = \"basic\"")?;
                let token = required(
                    &key("token"),
                    raw.token,
                    "Add token = { env = \"NAME\" } or { file = \"path\" }",
                )?;
                CallerAuth::Bearer {
                    token: self.secret(&key("token"), &token)?,
                }
            }
        };
        Ok(Webhook {
            listen,
            path,
            tls_cert,
            tls_key,
            auth,
        })
    }

    fn servicenow(&self, raw: RawServiceNow) -> Checked<ServiceNow> {
        let key = |k: &str| format!("servicenow.{k}");
        let instance_url = base_url(
            &key("instance_url"),
            raw.instance_url,
            raw.allow_insecure_http.unwrap_or(false),
            "Use your instance's https:// address, e.g. \"https://example.service-now.com/\"",
        )?;
        let user = text(&key("user"), raw.user)?;
        let password = self.secret(&key("password"), &raw.password)?;
        let auth = match raw.auth.unwrap_or(RawServiceNowAuth::Basic) {
            RawServiceNowAuth::Basic => {
                reject_unused(&key("client_id"), &raw.client_id, "auth = \"oauth\"")?;
                reject_unused(
                    &key("client_secret"),
                    &raw.client_secret,
                    "auth = \"oauth\"",
                )?;
                ServiceNowAuth::Basic {
                    user: user.clone(),
                    password,
                }
            }
            RawServiceNowAuth::Oauth => {
                let fix =
                    "auth = \"oauth\" needs the OAuth application's client_id and client_secret";
                let client_id = required(&key("client_id"), raw.client_id, fix)?;
                let client_secret = required(&key("client_secret"), raw.client_secret, fix)?;
                ServiceNowAuth::OAuth {
                    user: user.clone(),
                    password,
                    client_id: text(&key("client_id"), client_id)?,
                    client_secret: self.secret(&key("client_secret"), &client_secret)?,
                }
            }
        };
        let page_size = match raw.page_size {
            None => defaults::SN_PAGE_SIZE,
            Some(n) => match u32::try_from(n) {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    return Err(KeyError::new(
                        key("page_size"),
                        format!("{n} is outside 1 to 10000"),
                        "Use a page size such as 100",
                    ));
                }
            },
        };
        let time_zone = match raw.time_zone {
            None => chrono_tz::Tz::UTC,
            Some(tz) => tz.trim().parse().map_err(|_| {
                KeyError::new(
                    key("time_zone"),
                    format!("{tz:?} is not a time zone name"),
                    "Use the IANA name set on the API user's profile, e.g. \"America/Los_Angeles\" or \"UTC\"",
                )
            })?,
        };
        let incident_query = text(
            &key("incident_query"),
            raw.incident_query
                .unwrap_or_else(|| defaults::SN_INCIDENT_QUERY.into()),
        )?;
        // The poller appends `^sys_updated_on>=…^ORDERBY…`: a `^NQ` would
        // leave the watermark applying to the last sub-query only, and an
        // ORDERBY of the site's would fight the poller's.
        if incident_query.contains("^NQ") || incident_query.contains("ORDERBY") {
            return Err(KeyError::new(
                key("incident_query"),
                format!("{incident_query:?} uses ^NQ or ORDERBY"),
                "Write one query of conditions joined by ^ or ^OR; casebridge adds the ordering",
            ));
        }
        let max_journal_length = match raw.max_journal_length {
            None => None,
            Some(n) => match usize::try_from(n) {
                Ok(n) if n >= defaults::SN_MIN_JOURNAL_LENGTH => Some(n),
                _ => {
                    return Err(KeyError::new(
                        key("max_journal_length"),
                        format!(
                            "{n} is below {} characters",
                            defaults::SN_MIN_JOURNAL_LENGTH
                        ),
                        "Use the journal field's max length from the instance's dictionary, e.g. 4000, or leave the key out for no limit",
                    ));
                }
            },
        };
        let backoff = ensure_backoff(
            "servicenow",
            dur(raw.backoff_start, defaults::SN_BACKOFF_START),
            dur(raw.backoff_cap, defaults::SN_BACKOFF_CAP),
        )?;
        Ok(ServiceNow {
            instance_url,
            ca_bundle: raw
                .ca_bundle
                .map(|p| self.readable_file(&key("ca_bundle"), &p))
                .transpose()?,
            integration_user: match raw.integration_user {
                Some(u) => text(&key("integration_user"), u)?,
                None => user,
            },
            auth,
            poll_interval: dur(raw.poll_interval, defaults::SN_POLL_INTERVAL),
            overlap: dur(raw.overlap, defaults::SN_OVERLAP),
            request_timeout: dur(raw.request_timeout, defaults::REQUEST_TIMEOUT),
            backoff,
            page_size,
            time_zone,
            incident_query,
            comment_journal: match raw.comment_journal.unwrap_or(RawJournal::Comments) {
                RawJournal::Comments => Journal::Comments,
                RawJournal::WorkNotes => Journal::WorkNotes,
            },
            journal_fallback_to_display_value: raw
                .journal_fallback_to_display_value
                .unwrap_or(false),
            max_journal_length,
            mark_hold_reason: raw.mark_hold_reason.unwrap_or(false),
            sync_state_to_incident: raw.sync_state_to_incident.unwrap_or(true),
            close_case_when_incident_resolved: raw
                .close_case_when_incident_resolved
                .unwrap_or(true),
            push_hint: raw
                .push_hint
                .map(|h| -> Checked<PushHint> {
                    Ok(PushHint {
                        listen: listen_addr("servicenow.push_hint.listen", h.listen)?,
                        path: listen_path(
                            "servicenow.push_hint.path",
                            h.path,
                            defaults::PUSH_HINT_PATH,
                        )?,
                    })
                })
                .transpose()?,
            mirror: raw.mirror.map(mirror).transpose()?.flatten(),
        })
    }

    fn severity(&self, raw: Option<RawSeverity>) -> Checked<SeverityMap> {
        let defaults = SeverityMap::default();
        let Some(raw) = raw else {
            return Ok(defaults);
        };
        let pick =
            |k: &str, v: Option<String>, d: String| text(&format!("severity.{k}"), v.unwrap_or(d));
        Ok(SeverityMap {
            normal: pick("normal", raw.normal, defaults.normal)?,
            critical_degraded: pick(
                "critical_degraded",
                raw.critical_degraded,
                defaults.critical_degraded,
            )?,
            critical_down: pick("critical_down", raw.critical_down, defaults.critical_down)?,
        })
    }

    fn updates(&self, raw: Option<RawUpdates>) -> Checked<Updates> {
        let rules = match raw.and_then(|u| u.rules) {
            Some(path) => {
                let resolved = self.resolve(&path);
                if !resolved.is_file() {
                    return Err(KeyError::new(
                        "updates.rules",
                        format!("{} is not a file", resolved.display()),
                        "Fix the path, or remove the key to use the shipped rules",
                    ));
                }
                Some(resolved)
            }
            None => Some(self.resolve(Path::new(defaults::RULES_FILE))).filter(|p| p.is_file()),
        };
        Ok(Updates { rules })
    }

    fn store(&self, raw: Option<RawStore>, data_dir: Option<&Path>) -> Checked<Store> {
        let path = match (raw.and_then(|s| s.path), data_dir) {
            (Some(path), _) => self.resolve(&path),
            (None, Some(dir)) => dir.join(defaults::STORE_FILE),
            (None, None) => {
                return Err(KeyError::new(
                    "store.path",
                    "this user has no data directory (is $HOME set?)",
                    "Set store.path to where the SQLite file should live",
                ));
            }
        };
        Ok(Store { path })
    }

    pub(super) fn ui(&self, raw: Option<RawUi>) -> Checked<Ui> {
        let keys = raw.and_then(|u| u.keys).unwrap_or_default();
        for (action, key) in &keys {
            let mut chars = action.chars();
            let action_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c));
            if !action_ok {
                return Err(KeyError::new(
                    format!("ui.keys.{action}"),
                    format!("{action:?} is not an action name"),
                    "Use the action names listed by the console's help (lower case, e.g. open_case)",
                ));
            }
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(KeyError::new(
                    format!("ui.keys.{action}"),
                    format!("{key:?} is not a key"),
                    "Write one key, e.g. \"n\", \"F5\", \"Ctrl-r\" or \"Shift-Tab\"",
                ));
            }
        }
        Ok(Ui { keys })
    }
}

fn mirror(raw: RawMirror) -> Checked<Option<Mirror>> {
    if !raw.enabled.unwrap_or(false) {
        return Ok(None);
    }
    let key = |k: &str| format!("servicenow.mirror.{k}");
    let t = raw.task_fields;
    let td = TaskFields::default();
    let tf = |k: &str| format!("servicenow.mirror.task_fields.{k}");
    let task_fields = match t {
        None => td,
        Some(t) => TaskFields {
            hpe_id: sn_name(&tf("hpe_id"), t.hpe_id, &td.hpe_id)?,
            incident: sn_name(&tf("incident"), t.incident, &td.incident)?,
            case_number: sn_name(&tf("case_number"), t.case_number, &td.case_number)?,
            status: sn_name(&tf("status"), t.status, &td.status)?,
            scheduled_start: sn_name(
                &tf("scheduled_start"),
                t.scheduled_start,
                &td.scheduled_start,
            )?,
            engineer_eta: sn_name(&tf("engineer_eta"), t.engineer_eta, &td.engineer_eta)?,
            description: sn_name(&tf("description"), t.description, &td.description)?,
        },
    };
    let pd = PartFields::default();
    let pf = |k: &str| format!("servicenow.mirror.part_fields.{k}");
    let part_fields = match raw.part_fields {
        None => pd,
        Some(p) => PartFields {
            hpe_id: sn_name(&pf("hpe_id"), p.hpe_id, &pd.hpe_id)?,
            incident: sn_name(&pf("incident"), p.incident, &pd.incident)?,
            case_number: sn_name(&pf("case_number"), p.case_number, &pd.case_number)?,
            status: sn_name(&pf("status"), p.status, &pd.status)?,
            part_number: sn_name(&pf("part_number"), p.part_number, &pd.part_number)?,
            part_description: sn_name(
                &pf("part_description"),
                p.part_description,
                &pd.part_description,
            )?,
            quantity: sn_name(&pf("quantity"), p.quantity, &pd.quantity)?,
            carrier: sn_name(&pf("carrier"), p.carrier, &pd.carrier)?,
            tracking_number: sn_name(
                &pf("tracking_number"),
                p.tracking_number,
                &pd.tracking_number,
            )?,
            eta: sn_name(&pf("eta"), p.eta, &pd.eta)?,
            return_required: sn_name(
                &pf("return_required"),
                p.return_required,
                &pd.return_required,
            )?,
            return_status: sn_name(&pf("return_status"), p.return_status, &pd.return_status)?,
        },
    };
    Ok(Some(Mirror {
        task_table: sn_name(
            &key("task_table"),
            raw.task_table,
            defaults::MIRROR_TASK_TABLE,
        )?,
        part_table: sn_name(
            &key("part_table"),
            raw.part_table,
            defaults::MIRROR_PART_TABLE,
        )?,
        task_fields,
        part_fields,
    }))
}

//! `casebridge sim gsem …`: run the simulator, or script a running one
//! through its admin API.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::sim::pki::{ClientAuth, TestPki, server_config};

use super::admin::HpeCall;
use super::{
    Delivery, Fault, GsemSim, GsemSimConfig, GsemSimError, HpeAction, PushAuth, PushConfig,
    RandomConfig,
};

/// `casebridge sim gsem`.
#[derive(Debug, Args)]
pub struct GsemSimArgs {
    #[command(subcommand)]
    pub command: GsemSimCommand,
}

#[derive(Debug, Subcommand)]
pub enum GsemSimCommand {
    /// Run the simulator until Ctrl-C.
    Run(RunArgs),
    /// Send a note from HPE.
    Note {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        case: String,
        #[arg(long)]
        text: String,
    },
    /// Ask the requester for information (the case goes to 4).
    RequestInfo {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        case: String,
        #[arg(long)]
        text: String,
    },
    /// Propose a resolution (the case goes to 6).
    Resolve {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        case: String,
        #[arg(long)]
        solution: String,
    },
    /// Close the case on HPE's side (the case goes to 7).
    Close {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        case: String,
        #[arg(long)]
        comment: String,
    },
    /// Send any HPE action given as JSON (see the admin API).
    Hpe {
        #[command(flatten)]
        admin: AdminArgs,
        #[arg(long)]
        case: String,
        /// e.g. '{"onsite_task": [{"task_id": "WO-1", "status": "DISPATCHED"}, "text"]}'
        #[arg(long)]
        action: String,
    },
    /// Fake an outage: none, refuse, 503, hang, reset, flap.
    Fault {
        #[command(flatten)]
        admin: AdminArgs,
        /// none | refuse | 503 | hang | reset | flap
        kind: String,
        /// Retry-After seconds for 503; period in milliseconds for flap.
        #[arg(long)]
        value: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub bind: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:8444")]
    pub admin_bind: SocketAddr,
    /// Where the test CA, server and client certificates are written
    /// (fresh ones at each start): configure the engine with ca.crt,
    /// client.crt and client.key from there.
    #[arg(long)]
    pub pki_dir: PathBuf,
    #[arg(
        long,
        env = "CASEBRIDGE_SIM_AGENT_KEY",
        default_value = "sim-agent-key",
        hide_env_values = true
    )]
    pub agent_key: String,
    #[arg(long, default_value = "SFDC_Train_REST_P042")]
    pub agent_name: String,
    /// SERIAL=CONTRACT, repeatable; without any, every contract is accepted.
    #[arg(long = "contract", value_parser = parse_contract)]
    pub contracts: Vec<(String, String)>,
    /// Milliseconds before HPE answers a SERVICE REQUEST.
    #[arg(long, default_value_t = 5000)]
    pub answer_delay_ms: u64,
    /// Seed of random mode; without it, only scripted updates.
    #[arg(long)]
    pub random_seed: Option<u64>,
    /// Mean milliseconds between two random updates of a case.
    #[arg(long, default_value_t = 20_000)]
    pub random_interval_ms: u64,
    /// Push to this URL instead of waiting to be pulled.
    #[arg(long)]
    pub push_url: Option<String>,
    /// Bearer token for push delivery (else the client certificate is used).
    #[arg(long, env = "CASEBRIDGE_SIM_PUSH_TOKEN", hide_env_values = true)]
    pub push_token: Option<String>,
}

/// Where a running simulator's admin API is.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[arg(long, default_value = "https://127.0.0.1:8444/")]
    pub admin_url: String,
    /// The directory `run --pki-dir` wrote its certificates to.
    #[arg(long)]
    pub pki_dir: PathBuf,
}

fn parse_contract(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(serial, contract)| (serial.to_owned(), contract.to_owned()))
        .ok_or_else(|| format!("`{text}` is not SERIAL=CONTRACT"))
}

/// Runs one `casebridge sim gsem` command. Installs the crypto provider.
pub async fn run_cli(args: GsemSimArgs) -> Result<(), GsemSimError> {
    crate::tls::install_crypto_provider();
    let (admin, call) = match args.command {
        GsemSimCommand::Run(run) => return serve(run).await,
        GsemSimCommand::Note { admin, case, text } => (admin, hpe(case, HpeAction::Note(text))),
        GsemSimCommand::RequestInfo { admin, case, text } => {
            (admin, hpe(case, HpeAction::RequestInfo(text)))
        }
        GsemSimCommand::Resolve {
            admin,
            case,
            solution,
        } => (admin, hpe(case, HpeAction::Resolve(solution))),
        GsemSimCommand::Close {
            admin,
            case,
            comment,
        } => (admin, hpe(case, HpeAction::Close(comment))),
        GsemSimCommand::Hpe {
            admin,
            case,
            action,
        } => {
            let action = serde_json::from_str(&action).map_err(|e| GsemSimError::Argument {
                arg: "--action",
                reason: e.to_string(),
            })?;
            (admin, hpe(case, action))
        }
        GsemSimCommand::Fault { admin, kind, value } => {
            let fault = parse_fault(&kind, value)?;
            (admin, ("_sim/fault", serde_json::json!(fault)))
        }
    };
    let answer = admin_call(&admin, call.0, &call.1).await?;
    println!("{answer}");
    Ok(())
}

fn hpe(case: String, action: HpeAction) -> (&'static str, serde_json::Value) {
    ("_sim/hpe", serde_json::json!(HpeCall { case, action }))
}

fn parse_fault(kind: &str, value: Option<u64>) -> Result<Fault, GsemSimError> {
    Ok(match kind {
        "none" => Fault::None,
        "refuse" => Fault::RefuseConnections,
        "503" => Fault::Unavailable503 { retry_after: value },
        "hang" => Fault::Hang,
        "reset" => Fault::Reset,
        "flap" => Fault::Flap {
            period: Duration::from_millis(value.unwrap_or(5000)),
        },
        other => {
            return Err(GsemSimError::Argument {
                arg: "fault kind",
                reason: format!("`{other}`: expected none, refuse, 503, hang, reset or flap"),
            });
        }
    })
}

fn read(path: &Path) -> Result<String, GsemSimError> {
    std::fs::read_to_string(path).map_err(|source| GsemSimError::Read {
        path: path.to_owned(),
        source,
    })
}

async fn admin_call(
    admin: &AdminArgs,
    path: &str,
    body: &serde_json::Value,
) -> Result<String, GsemSimError> {
    let url = format!("{}/{path}", admin.admin_url.trim_end_matches('/'));
    let fail = |source| GsemSimError::Admin {
        url: url.clone(),
        source,
    };
    let ca = read(&admin.pki_dir.join("ca.crt"))?;
    let identity = format!(
        "{}{}",
        read(&admin.pki_dir.join("client.crt"))?,
        read(&admin.pki_dir.join("client.key"))?
    );
    let client = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(fail)?)
        .identity(reqwest::Identity::from_pem(identity.as_bytes()).map_err(fail)?)
        .build()
        .map_err(fail)?;
    let response = client.post(&url).json(body).send().await.map_err(fail)?;
    let status = response.status();
    let text = response.text().await.map_err(fail)?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(GsemSimError::AdminRefused {
            status: status.as_u16(),
            body: text,
        })
    }
}

async fn serve(run: RunArgs) -> Result<(), GsemSimError> {
    let pki = TestPki::generate("casebridge-sim-client")?;
    let paths = pki.write_to(&run.pki_dir)?;
    let tls = server_config(
        &pki.server,
        &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
    )?;
    let mut config = GsemSimConfig::new(Arc::new(tls), run.agent_key);
    config.bind = run.bind;
    config.admin_bind = Some(run.admin_bind);
    config.agent_name = run.agent_name;
    if !run.contracts.is_empty() {
        config.contracts = Some(run.contracts.into_iter().collect::<BTreeMap<_, _>>());
    }
    config.provider.answer_delay = Some(Duration::from_millis(run.answer_delay_ms));
    config.provider.random = run.random_seed.map(|seed| RandomConfig {
        seed,
        interval: Duration::from_millis(run.random_interval_ms),
        close_percent: 20,
    });
    if let Some(url) = run.push_url {
        let mut push = PushConfig::new(url);
        push.ca_pem = Some(pki.ca.cert().cert_pem().to_owned());
        push.auth = match run.push_token {
            Some(token) => PushAuth::Bearer(token),
            None => PushAuth::ClientCert {
                cert_pem: pki.client.cert_pem().to_owned(),
                key_pem: pki.client.key_pem().to_owned(),
            },
        };
        config.delivery = Delivery::Push(push);
    }
    let sim = GsemSim::start(config).await?;
    println!("GSEM simulator at {}", sim.base_url());
    if let Some(admin) = sim.admin_url() {
        println!("admin API at {admin}");
    }
    println!(
        "certificates: CA {}, client {} / {}",
        paths.ca.cert.display(),
        paths.client.cert.display(),
        paths.client.key.display()
    );
    let stopped = tokio::signal::ctrl_c().await;
    sim.shutdown().await;
    stopped.map_err(GsemSimError::Signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_contracts_parse_from_the_command_line() {
        assert_eq!(
            parse_fault("503", Some(4)).unwrap(),
            Fault::Unavailable503 {
                retry_after: Some(4)
            }
        );
        assert_eq!(
            parse_fault("flap", None).unwrap(),
            Fault::Flap {
                period: Duration::from_millis(5000)
            }
        );
        assert!(parse_fault("down", None).is_err());
        assert_eq!(
            parse_contract("5UF044F7CY=2155240525").unwrap(),
            ("5UF044F7CY".into(), "2155240525".into())
        );
        assert!(parse_contract("5UF044F7CY").is_err());
    }
}

//! A [`TableClient`] from the validated `[servicenow]` settings.

use std::path::PathBuf;

use super::{ClientOptions, SnError, TableClient, TlsRoots};
use crate::config;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read servicenow.ca_bundle {}: {source} (check the path)", .path.display())]
    CaBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] SnError),
}

/// The client the settings describe: the instance URL and credentials, the
/// request timeout and page size, and the CA bundle added to the platform's
/// roots.
pub fn client_for(sn: &config::ServiceNow) -> Result<TableClient, SetupError> {
    let tls_roots = match &sn.ca_bundle {
        None => TlsRoots::Platform,
        Some(path) => {
            TlsRoots::PlatformAnd(std::fs::read(path).map_err(|source| SetupError::CaBundle {
                path: path.clone(),
                source,
            })?)
        }
    };
    Ok(TableClient::new(
        sn.instance_url.as_str(),
        sn.auth.clone(),
        ClientOptions {
            timeout: sn.request_timeout,
            page_size: sn.page_size,
            tls_roots,
            ..ClientOptions::default()
        },
    )?)
}

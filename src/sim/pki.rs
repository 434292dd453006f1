//! Certificates for the demo and the tests: a throw-away CA, server and
//! client certificates signed by it, and deliberately bad certificates
//! (expired, wildcard) for `doctor`'s checks.
//!
//! Everything is generated in memory with rcgen (ring) and can be written as
//! PEM files; [`server_config`] turns an identity into a rustls server
//! configuration, optionally requiring client certificates from a CA, which
//! is what the GSEM simulator's mutual TLS needs.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;

/// What can go wrong making or writing test certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate the test certificate {what}: {source}")]
    Generate {
        what: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot write {path}: {source} (is the directory writable?)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rustls refuses the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("cannot build the client-certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// A certificate and its private key, both as PEM and DER.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    cert_pem: String,
    key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

/// Where [`IssuedCert::write_to`] put the two files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl IssuedCert {
    fn new(cert: &rcgen::Certificate, key: &KeyPair) -> Self {
        Self {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Certificate followed by key, the form reqwest's `Identity::from_pem`
    /// takes for a client certificate.
    pub fn identity_pem(&self) -> Vec<u8> {
        format!("{}{}", self.cert_pem, self.key_pem).into_bytes()
    }

    /// Writes `<stem>.crt` and `<stem>.key` into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path, stem: &str) -> Result<PemPaths, PkiError> {
        let cert = write_file(dir, &format!("{stem}.crt"), &self.cert_pem)?;
        let key = write_file(dir, &format!("{stem}.key"), &self.key_pem)?;
        Ok(PemPaths { cert, key })
    }
}

fn write_file(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, PkiError> {
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, contents))
        .map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// A certificate authority that exists only for this process.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    cert: IssuedCert,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// How long a leaf certificate is valid.
#[derive(Clone, Copy, Debug)]
enum Validity {
    /// rcgen's default, 1975 to 4096: never in the way of a test.
    Current,
    /// Ended on 2021-01-01.
    Expired,
}

fn generate(what: &str) -> impl Fn(rcgen::Error) -> PkiError + '_ {
    move |source| PkiError::Generate {
        what: what.to_owned(),
        source,
    }
}

impl TestCa {
    /// A new self-signed CA whose subject CN is `common_name`.
    pub fn new(common_name: &str) -> Result<Self, PkiError> {
        let err = generate(common_name);
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(&err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "casebridge test PKI");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(&err)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(&err)?;
        let cert = IssuedCert {
            cert_pem: issuer.pem(),
            key_pem: issuer.key().serialize_pem(),
            cert_der: issuer.der().clone(),
            key_der: issuer.key().serialize_der(),
        };
        Ok(Self { issuer, cert })
    }

    /// The CA's own certificate (and key), to trust or to write out.
    pub fn cert(&self) -> &IssuedCert {
        &self.cert
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server_cert(&self, names: &[&str]) -> Result<IssuedCert, PkiError> {
        let cn = names.first().copied().unwrap_or("server");
        self.leaf(
            cn,
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            Validity::Current,
        )
    }

    /// A server certificate for `localhost` and 127.0.0.1, what the
    /// simulators on loopback present.
    pub fn localhost_cert(&self) -> Result<IssuedCert, PkiError> {
        self.server_cert(&["localhost", "127.0.0.1"])
    }

    /// A client certificate whose subject CN is `common_name`.
    pub fn client_cert(&self, common_name: &str) -> Result<IssuedCert, PkiError> {
        self.leaf(
            common_name,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            Validity::Current,
        )
    }

    /// A client certificate that expired on 2021-01-01.
    pub fn expired_client_cert(&self, common_name: &str) -> Result<IssuedCert, PkiError> {
        self.leaf(
            common_name,
            &[],
            ExtendedKeyUsagePurpose::ClientAuth,
            Validity::Expired,
        )
    }

    /// A server certificate for `*.<domain>` only.
    pub fn wildcard_cert(&self, domain: &str) -> Result<IssuedCert, PkiError> {
        let name = format!("*.{domain}");
        self.leaf(
            &name,
            &[name.as_str()],
            ExtendedKeyUsagePurpose::ServerAuth,
            Validity::Current,
        )
    }

    fn leaf(
        &self,
        common_name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        validity: Validity,
    ) -> Result<IssuedCert, PkiError> {
        let err = generate(common_name);
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => (*name).try_into().map(SanType::DnsName),
            })
            .collect::<Result<_, _>>()
            .map_err(&err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![usage];
        if let Validity::Expired = validity {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().map_err(&err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(&err)?;
        Ok(IssuedCert::new(&cert, &key))
    }
}

/// A ready set for the demo and the tests: a CA, the loopback server
/// certificate, one client certificate, an expired client certificate and a
/// wildcard server certificate, all signed by the CA.
#[derive(Debug)]
pub struct TestPki {
    pub ca: TestCa,
    pub server: IssuedCert,
    pub client: IssuedCert,
    pub expired: IssuedCert,
    pub wildcard: IssuedCert,
}

/// The files [`TestPki::write_to`] wrote. The CA entry has the CA's key too,
/// so a demo can sign more certificates later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestPkiPaths {
    pub ca: PemPaths,
    pub server: PemPaths,
    pub client: PemPaths,
    pub expired: PemPaths,
    pub wildcard: PemPaths,
}

impl TestPki {
    /// Generates the set; `client_cn` names the client certificate's subject.
    pub fn generate(client_cn: &str) -> Result<Self, PkiError> {
        let ca = TestCa::new("casebridge test CA")?;
        Ok(Self {
            server: ca.localhost_cert()?,
            client: ca.client_cert(client_cn)?,
            expired: ca.expired_client_cert(&format!("{client_cn} (expired)"))?,
            wildcard: ca.wildcard_cert("example.test")?,
            ca,
        })
    }

    /// Writes every certificate and key as `<name>.crt` / `<name>.key`.
    pub fn write_to(&self, dir: &Path) -> Result<TestPkiPaths, PkiError> {
        Ok(TestPkiPaths {
            ca: self.ca.cert().write_to(dir, "ca")?,
            server: self.server.write_to(dir, "server")?,
            client: self.client.write_to(dir, "client")?,
            expired: self.expired.write_to(dir, "expired")?,
            wildcard: self.wildcard.write_to(dir, "wildcard")?,
        })
    }
}

/// Whether a server asks for client certificates.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// No client certificates.
    None,
    /// Clients may present a certificate; if they do it must chain to these roots.
    Optional(Vec<CertificateDer<'static>>),
    /// Clients must present a certificate chaining to these roots (mutual TLS).
    Required(Vec<CertificateDer<'static>>),
}

/// The crypto provider servers are built with: the process default if one is
/// installed (`casebridge::tls::install_crypto_provider`), else ring
/// explicitly, so building a config never depends on start-up order.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A rustls server configuration presenting `identity`, with client
/// certificates handled as `client_auth` says. ALPN offers HTTP/1.1 only,
/// which is what the simulators speak.
pub fn server_config(
    identity: &IssuedCert,
    client_auth: &ClientAuth,
) -> Result<rustls::ServerConfig, PkiError> {
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for root in roots {
                store.add(root.clone())?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider);
            let verifier = if let ClientAuth::Optional(_) = client_auth {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
    };
    let mut config = builder.with_single_cert(vec![identity.cert_der()], identity.key_der())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pki_writes_pem_files_that_rustls_accepts() {
        crate::tls::install_crypto_provider();
        let pki = TestPki::generate("casebridge-test-client").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let paths = pki.write_to(dir.path()).unwrap();
        assert_eq!(paths.server.cert, dir.path().join("server.crt"));
        let pem = std::fs::read_to_string(&paths.client.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let key = std::fs::read_to_string(&paths.client.key).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        server_config(&pki.server, &ClientAuth::None).unwrap();
        server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )
        .unwrap();
    }
}

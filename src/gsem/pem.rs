//! Reading and checking the PEM files that GSEM's mutual TLS needs: the
//! client certificate and key HPE registered, an optional CA bundle, and the
//! push receiver's own certificate. Every error names the file and the fix,
//! and is raised at start-up, not at the first handshake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

const CONVERT_HINT: &str = "HPE's .p7b converts with `openssl pkcs7 -print_certs -in cert.p7b -out cert.pem`, \
     its .p12 with `openssl pkcs12 -in cert.p12 -nokeys -out cert.pem` and `-nocerts -nodes -out key.pem`";

#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {}: {source}; check the path in the config and the file's permissions", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----); {CONVERT_HINT}", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (-----BEGIN PRIVATE KEY-----); {CONVERT_HINT}", path.display())]
    NoKey { path: PathBuf },
    #[error("{} is not valid PEM: {why}; {CONVERT_HINT}", path.display())]
    BadPem { path: PathBuf, why: String },
    #[error("the certificate in {} cannot be parsed: {why}; replace it with the PEM certificate HPE registered", path.display())]
    BadCertificate { path: PathBuf, why: String },
    #[error("the key in {} is not a supported RSA, ECDSA or Ed25519 key: {why}", path.display())]
    UnsupportedKey { path: PathBuf, why: String },
    #[error("the key in {} does not match the certificate in {}: configure the key that was generated with that certificate", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the certificate in {} expired at {not_after}: renew it and have HPE register the new one", path.display())]
    Expired {
        path: PathBuf,
        not_after: DateTime<Utc>,
    },
    #[error("the certificate in {} is not valid before {not_before}: check the host's clock or the certificate", path.display())]
    NotYetValid {
        path: PathBuf,
        not_before: DateTime<Utc>,
    },
}

/// What the start-up check learned about a certificate, for health and
/// `doctor` (which warns on wildcard hosts, since HPE rejects them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    pub dns_names: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

impl CertificateInfo {
    pub fn has_wildcard_host(&self) -> bool {
        self.dns_names.iter().any(|name| name.starts_with("*.")) || self.subject.contains("CN=*.")
    }
}

/// A certificate chain and its key, checked to belong together and to be
/// valid now.
#[derive(Debug)]
pub struct CheckedIdentity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub info: CertificateInfo,
    /// The chain and key as PEM, in the order reqwest's `Identity` expects.
    pub pem: Vec<u8>,
}

impl CheckedIdentity {
    pub fn load(
        cert_path: &Path,
        key_path: &Path,
        now: DateTime<Utc>,
    ) -> Result<Self, TlsFileError> {
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        let certs = parse_certs(cert_path, &cert_pem)?;
        let key = parse_key(key_path, &key_pem)?;
        let info = check_validity(cert_path, &certs[0], now)?;
        check_key_matches(cert_path, key_path, &certs, &key)?;
        let mut pem = cert_pem;
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(&key_pem);
        Ok(Self {
            certs,
            key,
            info,
            pem,
        })
    }
}

/// The certificates of a CA bundle, as PEM text and parsed.
pub fn load_ca_bundle(
    path: &Path,
) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), TlsFileError> {
    let pem = read(path)?;
    let certs = parse_certs(path, &pem)?;
    Ok((pem, certs))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::BadPem {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsFileError::NoKey {
            path: path.to_path_buf(),
        },
        other => TlsFileError::BadPem {
            path: path.to_path_buf(),
            why: other.to_string(),
        },
    })
}

fn check_validity(
    path: &Path,
    cert: &CertificateDer<'_>,
    now: DateTime<Utc>,
) -> Result<CertificateInfo, TlsFileError> {
    let bad = |why: String| TlsFileError::BadCertificate {
        path: path.to_path_buf(),
        why,
    };
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|e| bad(e.to_string()))?;
    let validity = parsed.validity();
    let to_utc = |t: x509_parser::time::ASN1Time| {
        DateTime::<Utc>::from_timestamp(t.timestamp(), 0)
            .ok_or_else(|| bad("validity date out of range".into()))
    };
    let not_before = to_utc(validity.not_before)?;
    let not_after = to_utc(validity.not_after)?;
    if now > not_after {
        return Err(TlsFileError::Expired {
            path: path.to_path_buf(),
            not_after,
        });
    }
    if now < not_before {
        return Err(TlsFileError::NotYetValid {
            path: path.to_path_buf(),
            not_before,
        });
    }
    let dns_names = parsed
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(CertificateInfo {
        subject: parsed.subject().to_string(),
        dns_names,
        not_before,
        not_after,
    })
}

fn check_key_matches(
    cert_path: &Path,
    key_path: &Path,
    certs: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
) -> Result<(), TlsFileError> {
    let signing = rustls::crypto::ring::sign::any_supported_type(key).map_err(|e| {
        TlsFileError::UnsupportedKey {
            path: key_path.to_path_buf(),
            why: e.to_string(),
        }
    })?;
    CertifiedKey::new(certs.to_vec(), Arc::clone(&signing))
        .keys_match()
        .map_err(|_| TlsFileError::KeyMismatch {
            cert: cert_path.to_path_buf(),
            key: key_path.to_path_buf(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    /// A self-signed certificate valid from `from` to `to`, written as
    /// `name.crt` / `name.key` into `dir`.
    pub(crate) fn write_cert(
        dir: &Path,
        name: &str,
        host: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![host.to_string()]).unwrap();
        // rcgen takes whole days; every test date is whole days from now.
        use chrono::Datelike;
        params.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
        params.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
        let cert = params.self_signed(&key).unwrap();
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    fn valid_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        write_cert(
            dir,
            name,
            "casebridge.example.org",
            now() - chrono::Duration::days(1),
            now() + chrono::Duration::days(30),
        )
    }

    #[test]
    fn a_matching_valid_pair_loads_with_its_info() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = valid_pair(dir.path(), "client");
        let id = CheckedIdentity::load(&cert, &key, now()).unwrap();
        assert_eq!(id.certs.len(), 1);
        assert_eq!(
            id.info.dns_names,
            vec!["casebridge.example.org".to_string()]
        );
        assert!(!id.info.has_wildcard_host());
        assert!(
            id.pem
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        );
        assert!(
            id.pem
                .windows(27)
                .any(|w| w == b"-----BEGIN PRIVATE KEY-----")
        );
    }

    #[test]
    fn a_wildcard_host_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_cert(
            dir.path(),
            "wild",
            "*.example.org",
            now() - chrono::Duration::days(1),
            now() + chrono::Duration::days(1),
        );
        assert!(
            CheckedIdentity::load(&cert, &key, now())
                .unwrap()
                .info
                .has_wildcard_host()
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = valid_pair(dir.path(), "one");
        let (_, other_key) = valid_pair(dir.path(), "two");
        let err = CheckedIdentity::load(&cert, &other_key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::KeyMismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("two.key"), "{text}");
        assert!(text.contains("one.crt"), "{text}");
    }

    #[test]
    fn an_expired_certificate_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_cert(
            dir.path(),
            "old",
            "casebridge.example.org",
            now() - chrono::Duration::days(400),
            now() - chrono::Duration::days(35),
        );
        let err = CheckedIdentity::load(&cert, &key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::Expired { .. }), "{err}");
        assert!(err.to_string().contains("old.crt"));
        assert!(err.to_string().contains("expired"));
    }

    #[test]
    fn a_future_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_cert(
            dir.path(),
            "future",
            "casebridge.example.org",
            now() + chrono::Duration::days(2),
            now() + chrono::Duration::days(30),
        );
        let err = CheckedIdentity::load(&cert, &key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::NotYetValid { .. }), "{err}");
    }

    #[test]
    fn missing_and_non_pem_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = valid_pair(dir.path(), "client");
        let missing = dir.path().join("absent.pem");
        let err = CheckedIdentity::load(&missing, &key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains("absent.pem"));

        let der = dir.path().join("cert.p7b");
        std::fs::write(&der, [0x30u8, 0x82, 0x01, 0x00]).unwrap();
        let err = CheckedIdentity::load(&der, &key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("cert.p7b"));
        assert!(err.to_string().contains("openssl pkcs7"));

        // A certificate given where the key belongs.
        let err = CheckedIdentity::load(&cert, &cert, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::NoKey { .. }), "{err}");
        assert!(err.to_string().contains("client.crt"));
    }

    #[test]
    fn garbage_inside_pem_armour_is_a_bad_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (_, key) = valid_pair(dir.path(), "client");
        let bad = dir.path().join("bad.crt");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = CheckedIdentity::load(&bad, &key, now()).unwrap_err();
        assert!(matches!(err, TlsFileError::BadCertificate { .. }), "{err}");
        assert!(err.to_string().contains("bad.crt"));
    }

    #[test]
    fn a_ca_bundle_loads_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = valid_pair(dir.path(), "a");
        let (b, _) = valid_pair(dir.path(), "b");
        let bundle = dir.path().join("bundle.pem");
        let mut text = std::fs::read(&a).unwrap();
        text.extend(std::fs::read(&b).unwrap());
        std::fs::write(&bundle, text).unwrap();
        assert_eq!(load_ca_bundle(&bundle).unwrap().1.len(), 2);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            load_ca_bundle(&empty),
            Err(TlsFileError::NoCertificate { .. })
        ));
    }
}

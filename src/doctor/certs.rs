//! The client certificate HPE registered, its key, and the CA bundles: read
//! with the same code the GSEM client uses (`gsem::pem`), with each problem
//! on its own line and the `openssl` command that fixes a wrong format.

use std::io;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::files::shell_word;
use super::{Check, Reporter};
use crate::config::Gsem;
use crate::gsem::pem::{CheckedIdentity, TlsFileError, load_ca_bundle};

/// A certificate expiring sooner than this is a warning: HPE must register
/// its successor before it runs out.
const EXPIRY_WARNING: Duration = Duration::days(30);

/// What a TLS client trusts for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Roots {
    /// The system's roots (no bundle configured).
    System,
    /// Only the certificates of this PEM bundle.
    Pinned(Vec<u8>),
}

/// What a file should hold, for the format check and its fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    Certificate,
    Key,
    Bundle,
}

/// Lines `client certificate`, `certificate validity` and `certificate
/// host`. Returns the identity when GSEM may be tried with it: it loads,
/// its key matches and it is valid now.
pub(super) fn client_identity<W: io::Write>(
    gsem: &Gsem,
    now: DateTime<Utc>,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<Option<CheckedIdentity>> {
    let env = gsem.environment.as_str();
    let cert_key = format!("gsem.{env}.client_cert");
    let key_key = format!("gsem.{env}.client_key");
    let cert = gsem.client_cert.as_path();
    let key = gsem.client_key.as_path();
    let format = format_problem(cert, Holds::Certificate, &cert_key, &key_key)
        .or_else(|| format_problem(key, Holds::Key, &cert_key, &key_key));
    if let Some(check) = format {
        reporter.push(check)?;
        return Ok(None);
    }
    // A certificate outside its validity is reported on its own line; it is
    // loaded again at a moment it was valid, so that the key is still checked.
    let first = CheckedIdentity::load(cert, key, now);
    let valid_at = match &first {
        Err(TlsFileError::Expired { not_after, .. }) => Some(*not_after),
        Err(TlsFileError::NotYetValid { not_before, .. }) => Some(*not_before),
        _ => None,
    };
    let (loaded, out_of_time) = match (first, valid_at) {
        (Err(e), Some(at)) => (
            CheckedIdentity::load(cert, key, at),
            Some(Check {
                name: "certificate validity",
                ..file_error(&e, &cert_key, &key_key)
            }),
        ),
        (other, _) => (other, None),
    };
    let identity = match loaded {
        Ok(identity) => identity,
        Err(e) => {
            reporter.push(file_error(&e, &cert_key, &key_key))?;
            if let Some(check) = out_of_time {
                reporter.push(check)?;
            }
            return Ok(None);
        }
    };
    let info = &identity.info;
    reporter.push(Check::ok(
        "client certificate",
        format!(
            "{} ({}) and its key {} match",
            cert.display(),
            info.subject,
            key.display()
        ),
    ))?;
    let usable = out_of_time.is_none();
    reporter.push(out_of_time.unwrap_or_else(|| {
        let left = info.not_after - now;
        let until = format!(
            "{} expires at {}, in {} days",
            cert.display(),
            info.not_after.to_rfc3339(),
            left.num_days()
        );
        if left < EXPIRY_WARNING {
            Check::warn(
                "certificate validity",
                until,
                "Renew it now: HPE must register the new certificate before this one expires",
            )
        } else {
            Check::ok("certificate validity", until)
        }
    }))?;
    let names = if info.dns_names.is_empty() {
        info.subject.clone()
    } else {
        info.dns_names.join(", ")
    };
    reporter.push(if info.has_wildcard_host() {
        Check::fail(
            "certificate host",
            format!(
                "{} names a wildcard host ({names}), which HPE refuses",
                cert.display()
            ),
            "Request a certificate for this host's own name (no *.) and have HPE register it",
        )
    } else {
        Check::ok(
            "certificate host",
            format!("{} names {names}", cert.display()),
        )
    })?;
    Ok(usable.then_some(identity))
}

/// A CA bundle line (`name`) for the bundle at `path` under config key
/// `key`. `None`: the bundle cannot be used, and nothing that needs it
/// should be tried.
pub(super) fn ca_bundle<W: io::Write>(
    name: &'static str,
    path: Option<&Path>,
    key: &str,
    whose: &str,
    reporter: &mut Reporter<'_, W>,
) -> io::Result<Option<Roots>> {
    let Some(path) = path else {
        reporter.push(Check::ok(
            name,
            format!("{key} is not set: {whose} certificate is checked against the system's roots"),
        ))?;
        return Ok(Some(Roots::System));
    };
    if let Some(check) = format_problem(path, Holds::Bundle, key, key) {
        reporter.push(Check { name, ..check })?;
        return Ok(None);
    }
    let (pem, certs) = match load_ca_bundle(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            reporter.push(Check {
                name,
                ..file_error(&e, key, key)
            })?;
            return Ok(None);
        }
    };
    let now = Utc::now().timestamp();
    let mut expired = Vec::new();
    for cert in &certs {
        match x509_parser::parse_x509_certificate(cert.as_ref()) {
            Ok((_, parsed)) if parsed.validity().not_after.timestamp() < now => {
                expired.push(parsed.subject().to_string());
            }
            Ok(_) => {}
            Err(e) => {
                reporter.push(Check::fail(
                    name,
                    format!("a certificate in {} cannot be parsed: {e}", path.display()),
                    format!("Replace {key} with the PEM CA bundle for {whose} certificate"),
                ))?;
                return Ok(None);
            }
        }
    }
    let summary = format!(
        "{} holds {} certificate(s), pinning {whose} certificate",
        path.display(),
        certs.len()
    );
    reporter.push(if expired.is_empty() {
        Check::ok(name, summary)
    } else {
        Check::warn(
            name,
            format!("{summary}; expired: {}", expired.join("; ")),
            format!("Replace the expired certificates in {key} with current ones"),
        )
    })?;
    Ok(Some(Roots::Pinned(pem)))
}

/// The file is not PEM (by its name or its contents), or holds a key
/// casebridge cannot use without a passphrase.
fn format_problem(path: &Path, holds: Holds, cert_key: &str, key_key: &str) -> Option<Check> {
    let name = "client certificate";
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let fix = conversion(path, &extension, holds, cert_key, key_key);
    let kind = match extension.as_str() {
        "p12" | "pfx" => Some("PKCS#12"),
        "p7b" | "p7c" => Some("PKCS#7"),
        _ => None,
    };
    if let Some(kind) = kind {
        return Some(Check::fail(
            name,
            format!(
                "{} is a {kind} file (.{extension}); casebridge reads PEM only",
                path.display()
            ),
            fix,
        ));
    }
    // Unreadable files are reported by the loader, with the error.
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("-----BEGIN ") {
        return Some(Check::fail(
            name,
            format!("{} is not PEM (no -----BEGIN line)", path.display()),
            fix,
        ));
    }
    if holds == Holds::Key
        && (text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED"))
    {
        return Some(Check::fail(
            name,
            format!("{} holds a passphrase-protected key", path.display()),
            format!(
                "casebridge cannot ask for a passphrase: write the key out unencrypted with `openssl pkey -in {} -out client.key`, chmod 600 client.key, and set {key_key} = \"client.key\"",
                shell_word(path)
            ),
        ));
    }
    None
}

/// How to turn what HPE handed out into the PEM files the config names.
fn conversion(path: &Path, extension: &str, holds: Holds, cert_key: &str, key_key: &str) -> String {
    let p = shell_word(path);
    let pkcs12 = format!(
        "`openssl pkcs12 -in {p} -clcerts -nokeys -out client.crt` and `openssl pkcs12 -in {p} -nocerts -nodes -out client.key`, then set {cert_key} = \"client.crt\" and {key_key} = \"client.key\""
    );
    let pkcs7 = match holds {
        Holds::Bundle => format!(
            "`openssl pkcs7 -print_certs -in {p} -out chain.pem`, then set {cert_key} = \"chain.pem\""
        ),
        Holds::Certificate | Holds::Key => format!(
            "`openssl pkcs7 -print_certs -in {p} -out chain.pem` (this host's certificate first), then set {cert_key} = \"chain.pem\"; a .p7b holds no key, so {key_key} stays the key generated with the certificate request"
        ),
    };
    match extension {
        "p12" | "pfx" => format!("Convert it to PEM with {pkcs12}"),
        "p7b" | "p7c" => format!("Convert it to PEM with {pkcs7}"),
        _ => {
            let der = match holds {
                Holds::Key => format!("`openssl pkey -inform der -in {p} -out client.key`"),
                Holds::Certificate | Holds::Bundle => {
                    format!("`openssl x509 -inform der -in {p} -out client.crt`")
                }
            };
            format!(
                "Convert it to PEM: from DER with {der}; from PKCS#12 (.p12) with {pkcs12}; from PKCS#7 (.p7b) with {pkcs7}"
            )
        }
    }
}

/// A `gsem::pem` error as a check line with its fix.
fn file_error(error: &TlsFileError, cert_key: &str, key_key: &str) -> Check {
    let name = "client certificate";
    let convert = |path: &Path, holds| {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        conversion(path, &extension, holds, cert_key, key_key)
    };
    match error {
        TlsFileError::Unreadable { path, source } => Check::fail(
            name,
            format!("cannot read {}: {source}", path.display()),
            "Check the path in the config and that casebridge's user may read the file",
        ),
        TlsFileError::NoCertificate { path } => Check::fail(
            name,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
            convert(path, Holds::Certificate),
        ),
        TlsFileError::NoKey { path } => Check::fail(
            name,
            format!(
                "{} holds no PEM private key (-----BEGIN PRIVATE KEY-----)",
                path.display()
            ),
            convert(path, Holds::Key),
        ),
        TlsFileError::BadPem { path, why } => Check::fail(
            name,
            format!("{} is not valid PEM: {why}", path.display()),
            convert(path, Holds::Certificate),
        ),
        TlsFileError::BadCertificate { path, why } => Check::fail(
            name,
            format!(
                "the certificate in {} cannot be parsed: {why}",
                path.display()
            ),
            "Replace it with the PEM certificate HPE registered for this host",
        ),
        TlsFileError::UnsupportedKey { path, why } => Check::fail(
            name,
            format!(
                "the key in {} is not an RSA, ECDSA or Ed25519 key casebridge can use: {why}",
                path.display()
            ),
            format!(
                "Configure the key generated with the certificate request, as PEM (`openssl pkey -in {} -out client.key`)",
                shell_word(path)
            ),
        ),
        TlsFileError::KeyMismatch { cert, key } => Check::fail(
            name,
            format!(
                "the key in {} does not belong to the certificate in {}",
                key.display(),
                cert.display()
            ),
            format!(
                "Set {key_key} to the key generated with that certificate: `openssl x509 -noout -pubkey -in {}` and `openssl pkey -pubout -in {}` print the same key when they match",
                shell_word(cert),
                shell_word(key)
            ),
        ),
        TlsFileError::Expired { path, not_after } => Check::fail(
            name,
            format!("{} expired at {}", path.display(), not_after.to_rfc3339()),
            format!("Renew it, have HPE register the new certificate, and point {cert_key} at it"),
        ),
        TlsFileError::NotYetValid { path, not_before } => Check::fail(
            name,
            format!(
                "{} is not valid before {}",
                path.display(),
                not_before.to_rfc3339()
            ),
            "Check this host's clock (timedatectl), or wait until then",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Backoff, Delivery, Environment};
    use crate::gsem::pem::tests::write_cert;

    fn gsem_with(cert: &Path, key: &Path) -> Gsem {
        let base = reqwest::Url::parse("https://gsem.example.com/").unwrap();
        Gsem {
            environment: Environment::Prod,
            config_url: base.join("redfish/v1/gsem").unwrap(),
            message_url: base.join("redfish/v1/message").unwrap(),
            base_url: base,
            agent_key_header: "X-Agent-Key".into(),
            agent_key: crate::config::Secret::new("k"),
            remote_agent_name: "A".into(),
            remote_agent_type: "CUSTOMER".into(),
            client_cert: cert.to_path_buf(),
            client_key: key.to_path_buf(),
            ca_bundle: None,
            request_timeout: std::time::Duration::from_secs(1),
            backoff: Backoff {
                start: std::time::Duration::from_secs(1),
                cap: std::time::Duration::from_secs(1),
            },
            inbound_body_limit: 1,
            delivery: Delivery::Pull {
                poll_interval: std::time::Duration::from_secs(1),
            },
        }
    }

    fn identity_lines(gsem: &Gsem, now: DateTime<Utc>) -> (bool, Vec<Check>) {
        let mut out = Vec::new();
        let mut reporter = Reporter {
            out: &mut out,
            json: true,
            report: super::super::DoctorReport::default(),
        };
        let usable = client_identity(gsem, now, &mut reporter).unwrap().is_some();
        (usable, reporter.report.checks)
    }

    #[test]
    fn a_certificate_expiring_within_30_days_warns_but_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let (cert, key) = write_cert(
            dir.path(),
            "soon",
            "casebridge.example.org",
            now - Duration::days(300),
            now + Duration::days(10),
        );
        let (usable, checks) = identity_lines(&gsem_with(&cert, &key), now);
        assert!(usable);
        let validity = checks
            .iter()
            .find(|c| c.name == "certificate validity")
            .unwrap();
        assert_eq!(validity.status, super::super::Status::Warn);
        assert!(
            validity
                .message
                .starts_with(&format!("{} expires at ", cert.display())),
            "{validity}"
        );
        assert_eq!(
            validity.fix.as_deref(),
            Some("Renew it now: HPE must register the new certificate before this one expires")
        );

        let (cert, key) = write_cert(
            dir.path(),
            "later",
            "casebridge.example.org",
            now - Duration::days(1),
            now + Duration::days(60),
        );
        let (usable, checks) = identity_lines(&gsem_with(&cert, &key), now);
        assert!(usable);
        assert!(checks.iter().all(|c| c.status == super::super::Status::Ok));
        assert_eq!(checks.len(), 3);
    }

    #[test]
    fn a_certificate_not_yet_valid_fails_and_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let (cert, key) = write_cert(
            dir.path(),
            "future",
            "casebridge.example.org",
            now + Duration::days(3),
            now + Duration::days(60),
        );
        let (usable, checks) = identity_lines(&gsem_with(&cert, &key), now);
        assert!(!usable);
        let statuses: Vec<_> = checks.iter().map(|c| (c.name, c.status)).collect();
        assert_eq!(
            statuses,
            vec![
                ("client certificate", super::super::Status::Ok),
                ("certificate validity", super::super::Status::Fail),
                ("certificate host", super::super::Status::Ok),
            ]
        );
    }

    fn fix(check: &Check) -> &str {
        check.fix.as_deref().unwrap_or_default()
    }

    #[test]
    fn pkcs12_and_pkcs7_files_get_their_openssl_commands() {
        let dir = tempfile::tempdir().unwrap();
        let p12 = dir.path().join("site.p12");
        let check = format_problem(
            &p12,
            Holds::Certificate,
            "gsem.prod.client_cert",
            "gsem.prod.client_key",
        )
        .unwrap();
        assert_eq!(
            check.message,
            format!(
                "{} is a PKCS#12 file (.p12); casebridge reads PEM only",
                p12.display()
            )
        );
        let p = p12.display();
        assert_eq!(
            fix(&check),
            format!(
                "Convert it to PEM with `openssl pkcs12 -in {p} -clcerts -nokeys -out client.crt` and `openssl pkcs12 -in {p} -nocerts -nodes -out client.key`, then set gsem.prod.client_cert = \"client.crt\" and gsem.prod.client_key = \"client.key\""
            )
        );

        let p7b = dir.path().join("site.P7B");
        let check = format_problem(&p7b, Holds::Certificate, "c", "k").unwrap();
        assert!(
            fix(&check).starts_with(&format!(
                "Convert it to PEM with `openssl pkcs7 -print_certs -in {} -out chain.pem`",
                p7b.display()
            )),
            "{check}"
        );
    }

    #[test]
    fn binary_and_encrypted_files_are_caught_by_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let der = dir.path().join("client.crt");
        std::fs::write(&der, [0x30u8, 0x82, 0x01, 0x0a]).unwrap();
        let check = format_problem(&der, Holds::Certificate, "c", "k").unwrap();
        assert_eq!(
            check.message,
            format!("{} is not PEM (no -----BEGIN line)", der.display())
        );
        assert!(fix(&check).contains("openssl x509 -inform der"), "{check}");
        assert!(fix(&check).contains("openssl pkcs12 -in"), "{check}");
        assert!(
            fix(&check).contains("openssl pkcs7 -print_certs"),
            "{check}"
        );

        let key = dir.path().join("client.key");
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let check = format_problem(&key, Holds::Key, "c", "k").unwrap();
        assert_eq!(
            check.message,
            format!("{} holds a passphrase-protected key", key.display())
        );
        let pem = dir.path().join("ok.crt");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        assert_eq!(format_problem(&pem, Holds::Certificate, "c", "k"), None);
    }
}

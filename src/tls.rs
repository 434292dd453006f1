//! TLS set-up shared by every client and server in the process.
//!
//! casebridge uses exactly one rustls crypto provider (ring) across its whole
//! dependency tree; it is installed as the process default once at start-up,
//! before any client or server is built.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Installs ring as the process-wide rustls crypto provider. Idempotent, so
/// the binary, tests and benches can all call it first thing.
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // `install_default` fails only when another provider was installed
        // first; the Once guarantees that can only be ring itself.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The innermost cause of `error`, in words, and whether rustls is among
/// its causes: reqwest's own text is only "error sending request", and the
/// operator needs to know a refused certificate from a refused connection.
pub fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> (bool, String) {
    let mut text = error.to_string();
    let mut tls = is_rustls(error);
    let mut source = error.source();
    while let Some(cause) = source {
        tls |= is_rustls(cause);
        text = cause.to_string();
        source = cause.source();
    }
    (tls, text)
}

/// Whether `error` is rustls's, possibly inside io::Errors: their `source`
/// skips the error they wrap, and hyper wraps rustls's twice.
fn is_rustls(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        Some(inner) => is_rustls(inner),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::innermost_cause;

    #[test]
    fn rustls_is_found_inside_twice_wrapped_io_errors() {
        let alert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::other(alert);
        let outer = std::io::Error::other(inner);
        let (tls, text) = innermost_cause(&outer);
        assert!(tls);
        assert_eq!(text, "invalid peer certificate: UnknownIssuer");
    }

    #[test]
    fn a_refused_connection_is_not_tls() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(innermost_cause(&refused), (false, "refused".to_string()));
    }
}

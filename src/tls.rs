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

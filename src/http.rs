//! The one way rehearse builds HTTP clients (judges, transcription, chat
//! callers, speech): rustls with the ring provider over the platform's
//! roots, and a timeout on every request.

use std::time::Duration;

/// A client whose every request times out after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

/// Makes ring the process's TLS provider (once; later calls do nothing).
/// reqwest is built without a provider of its own, and the WebSocket client
/// picks ring from rustls's features.
pub fn install_tls_provider() {
    // Err only means a provider is installed already: nothing to do.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

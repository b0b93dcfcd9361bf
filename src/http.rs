//! The one way rehearse builds HTTP clients (judges, transcription, chat
//! callers, speech): rustls over the webpki roots, a timeout on every
//! request, no proxy surprises.

use std::time::Duration;

/// A client whose every request times out after `timeout`.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

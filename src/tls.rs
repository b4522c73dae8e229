//! TLS for every HTTPS client the program builds: rustls with the ring
//! crypto provider (not aws-lc-rs, whose C build was most of a user's build
//! time; see docs/performance.md).
//!
//! Owns choosing the process-wide rustls provider. Must never: turn off
//! certificate or host name checks, or be skipped: reqwest is built without a
//! provider of its own, so a client built before [`install_crypto_provider`]
//! panics.

/// Make ring the process-wide rustls crypto provider. Call once at start,
/// before any HTTP client is built; later calls change nothing.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

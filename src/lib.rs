//! snapkeeper: scheduled snapshots and retention for DigitalOcean, Vultr and
//! Hetzner Cloud, driven by one YAML file.
//!
//! Owns the module tree. Data flows one way: `config` -> `daemon` (supervisor)
//! -> `engine` (one account's cycle) -> `policy` decides, `provider` acts ->
//! report -> logs. `sim` is a stand-in for the providers' HTTP APIs that the
//! product itself never depends on, except through `sim` and `demo`.
//!
//! Must never: hold a token value outside `secrecy::SecretString`, or read the
//! wall clock anywhere but through [`clock::Clock`].

pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub mod exit;
pub mod ha;
pub mod health;
pub mod memory;
pub mod metrics;
pub mod monitor;
pub mod notify;
pub mod policy;
pub mod provider;
pub mod sim;
mod sync;
pub mod text;
pub mod tls;

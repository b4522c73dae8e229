//! Integration tests: the real `snapkeeper` binary, and the simulator, on
//! loopback, with a temp directory per test. One test binary (see Cargo.toml).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod check;
mod commands;
mod daemon;
mod daemon_reload;
mod daemon_signals;
mod demo;
mod golden;
#[cfg(feature = "ha")]
mod ha;
mod ha_off;
mod harness;
mod monitoring;
mod online;
mod paging;
mod provider_cases;
mod provider_digitalocean;
mod provider_hetzner;
mod provider_safety;
mod provider_support;
mod provider_vultr;
mod schedule;
mod sim_digitalocean;
mod sim_edges;
mod sim_hetzner;
mod sim_support;
mod sim_vultr;
mod spec;
mod spec_files;
mod spec_selftest;
mod systemd_unit;

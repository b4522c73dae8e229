//! Integration tests: the real `snapkeeper` binary, and the simulator, on
//! loopback, with a temp directory per test. One test binary (see Cargo.toml).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod harness;
mod sim_digitalocean;
mod sim_vultr;
mod sim_hetzner;
mod spec;
mod spec_selftest;

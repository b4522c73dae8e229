//! Build script: tells the test suite whether the providers' OpenAPI
//! documents are at hand, so that a contract test without them is reported
//! as ignored instead of passing silently.
//!
//! The specs are vendored in `tests/specs/`; `$SNAPKEEPER_SPECS_DIR` points
//! elsewhere. When neither holds them, `cfg(snapkeeper_no_specs)` is set
//! and every contract test carries `#[cfg_attr(snapkeeper_no_specs,
//! ignore)]`, unless `CI=true`: then the cfg stays unset, the tests run, and
//! each one fails saying the specs are missing. Must never: read the specs'
//! contents, or touch the network.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(snapkeeper_no_specs)");
    println!("cargo::rerun-if-env-changed=SNAPKEEPER_SPECS_DIR");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed=tests/specs");
    let dir = std::env::var_os("SNAPKEEPER_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tests/specs"));
    println!("cargo::rerun-if-changed={}", dir.display());
    let present = ["digitalocean.yaml", "vultr.json", "hetzner.json"]
        .iter()
        .all(|f| dir.join(f).is_file());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !present && !ci {
        println!("cargo::rustc-cfg=snapkeeper_no_specs");
    }
}

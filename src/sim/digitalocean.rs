//! Simulated digitalocean API (placeholder until the simulator work lands).
//!
//! Must never: share code with `crate::provider`.

use std::sync::Arc;

use axum::Router;

use super::Served;
use super::core::Core;

/// The built-in demo seed for this provider's section.
pub const DEMO_SEED: &str = "{}";

/// Build this provider's router from its seed section.
///
/// # Errors
/// A message naming what is wrong in the seed section.
pub fn serve(core: Arc<Core>, seed: Option<&yaml_serde::Value>) -> Result<Served, String> {
    let _ = (core, seed);
    Ok(Served {
        router: Router::new(),
        tokens: Vec::new(),
        state: Arc::new(|| serde_json::Value::Null),
    })
}

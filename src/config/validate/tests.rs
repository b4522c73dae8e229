//! Case tables for validation: each config text and the exact diagnostics.

use std::path::Path;

use super::*;
use crate::config::parse_str;

fn errors(text: &str) -> Vec<String> {
    match parse_str(text, Path::new("c.yaml")) {
        Ok(_) => Vec::new(),
        Err(crate::config::ConfigError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect()
        }
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn placeholder_compiles() {
    assert!(errors("accounts: []\n").len() == 1);
}

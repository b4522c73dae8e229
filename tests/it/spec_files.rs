//! The vendored provider specs (`tests/specs/`): every file listed in
//! `SHA256SUMS` is there with that checksum, the checksums `SOURCES.md`
//! records for the three documents agree, and nothing unlisted sits beside
//! them. An edited or truncated spec fails here, not as a puzzling contract
//! mismatch.

use std::collections::BTreeSet;

use crate::harness::vendored_specs_dir;

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `SHA256SUMS` as (file, checksum), in `sha256sum` format.
fn listed() -> Vec<(String, String)> {
    let dir = vendored_specs_dir();
    let text = std::fs::read_to_string(dir.join("SHA256SUMS"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("SHA256SUMS").display()));
    text.lines()
        .map(|line| {
            let (sum, name) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("SHA256SUMS: not `<sum>  <file>`: {line:?}"));
            (name.to_string(), sum.to_string())
        })
        .collect()
}

#[test]
#[cfg_attr(snapkeeper_no_specs, ignore = "provider specs absent")]
fn vendored_specs_match_their_checksums() {
    let dir = vendored_specs_dir();
    let listed = listed();
    for (name, sum) in &listed {
        let bytes = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
        assert_eq!(&sha256_hex(&bytes), sum, "{name}: checksum differs");
    }
    let names: BTreeSet<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "digitalocean.yaml",
        "vultr.json",
        "hetzner.json",
        "SOURCES.md",
        "LICENSES.md",
    ] {
        assert!(names.contains(want), "SHA256SUMS does not list {want}");
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    let listed_names: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(present, listed_names, "files in tests/specs vs SHA256SUMS");

    // SOURCES.md records the documents' checksums too: they must agree.
    let sources = std::fs::read_to_string(dir.join("SOURCES.md")).unwrap();
    for doc in ["digitalocean.yaml", "vultr.json", "hetzner.json"] {
        let sum = &listed.iter().find(|(n, _)| n == doc).unwrap().1;
        assert!(
            sources
                .lines()
                .any(|l| l.contains(&format!("`{doc}`")) && l.contains(sum.as_str())),
            "SOURCES.md does not record {doc} with checksum {sum}"
        );
    }
}

#[test]
fn the_checksum_helper_is_sha256() {
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

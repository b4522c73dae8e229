//! `snapkeeper demo`, the README's first command: within its run it creates,
//! completes and prunes snapshots on all three providers, handles the
//! injected faults, and leaves every manual snapshot alone.

use crate::harness::{run, snapkeeper};

fn number_after(text: &str, label: &str) -> u64 {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line:?}"))
}

#[test]
fn demo_shows_the_whole_lifecycle() {
    // 45 s: long enough for `last: 2` / `last: 3` / `within: 40s` to prune.
    let ran = run(snapkeeper().args(["demo", "--seconds", "45"]));
    assert_eq!(
        ran.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        ran.stdout, ran.stderr
    );
    let out = &ran.stdout;
    assert!(number_after(out, "snapshots created:") >= 9, "{out}");
    assert!(number_after(out, "snapshots pruned:") >= 1, "{out}");
    assert_eq!(number_after(out, "faults answered:"), 3, "{out}");
    assert_eq!(number_after(out, "rate-limited (429) answers:"), 0, "{out}");
    assert!(
        out.contains("manual snapshots:  all 5 still there"),
        "{out}"
    );
    for account in ["do-demo", "vultr-demo", "hetzner-demo"] {
        let head = format!("account {account} (");
        assert!(
            out.lines().any(|l| l.starts_with(&head)
                && !l.contains(": no ")
                && l.contains(" managed snapshot")),
            "no managed snapshot listed for {account}:\n{out}"
        );
    }
    // Issue 13: what the demo prints fits a 100-column terminal.
    for line in out.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    let logs = &ran.stderr;
    for needle in [
        "creating snapshot",
        "snapshot complete",
        "deleted snapshot",
        "provider request retried",
        "resource busy, will try again later in this cycle",
        "stopped",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the demo's log");
    }
}

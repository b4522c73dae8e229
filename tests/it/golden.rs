//! Golden files of what the CLI prints about itself: `--help`, the man page
//! (its header, and the whole page as the package ships it) and the shell
//! completions the package ships. After a deliberate CLI change, rewrite
//! them with `SNAPKEEPER_BLESS=1 cargo test --test integration golden` and
//! review the diff.

use std::path::PathBuf;

use crate::harness::{run, snapkeeper};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// stdout of `snapkeeper ARGS`, which must exit 0 with nothing on stderr.
fn output(args: &[&str]) -> String {
    let ran = run(snapkeeper().args(args));
    assert_eq!(ran.code, 0, "snapkeeper {args:?}: {}", ran.stderr);
    assert_eq!(ran.stderr, "", "snapkeeper {args:?}");
    ran.stdout
}

/// Compare `got` with the file at `rel` (or rewrite it when blessing).
fn golden(rel: &str, got: &str) {
    let path = root().join(rel);
    if std::env::var_os("SNAPKEEPER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with SNAPKEEPER_BLESS=1)", path.display()));
    assert!(
        want == got,
        "{} differs from the binary's output; if the change is meant, run \
         SNAPKEEPER_BLESS=1 cargo test --test integration golden\n--- want\n{want}\n--- got\n{got}",
        rel
    );
}

#[test]
fn top_level_help_is_golden() {
    golden("tests/golden/help.txt", &output(&["--help"]));
}

#[test]
fn check_help_is_golden() {
    golden("tests/golden/check-help.txt", &output(&["check", "--help"]));
}

#[test]
fn man_page_header_names_the_command_and_version() {
    let page = output(&["man"]);
    let header: Vec<&str> = page.lines().filter(|l| l.starts_with(".TH")).collect();
    assert_eq!(
        header,
        [format!(
            ".TH snapkeeper 1  \"snapkeeper {}\" ",
            env!("CARGO_PKG_VERSION")
        )
        .as_str()]
    );
    assert!(page.contains(".SH NAME\nsnapkeeper \\- Scheduled snapshots"));
    for sub in ["run", "check", "plan", "completions", "man"] {
        assert!(
            page.contains(&format!("snapkeeper\\-{sub}(1)"))
                || page.contains(&format!("\n{sub}\n")),
            "man page lacks the subcommand {sub}"
        );
    }
}

#[test]
fn shipped_man_page_is_the_generated_one() {
    golden("packaging/man/snapkeeper.1", &output(&["man"]));
}

#[test]
fn shipped_completions_are_the_generated_ones() {
    for (shell, file, marker) in [
        (
            "bash",
            "packaging/completions/snapkeeper.bash",
            "complete -F _snapkeeper",
        ),
        (
            "zsh",
            "packaging/completions/_snapkeeper",
            "#compdef snapkeeper",
        ),
        (
            "fish",
            "packaging/completions/snapkeeper.fish",
            "complete -c snapkeeper",
        ),
    ] {
        let script = output(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for word in ["check", "online", "credentials-dir", "completions"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        golden(file, &script);
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let ran = run(snapkeeper().args(["completions", "tcsh"]));
    assert_eq!(ran.code, 2);
    assert!(
        ran.stderr.contains("invalid value 'tcsh'"),
        "{}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty());
}

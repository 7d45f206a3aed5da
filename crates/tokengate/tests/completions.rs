//! Shell completions and the manual page come from the command definitions and need no
//! configuration: they print even where the configuration file is broken.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn tokengate(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokengate.toml"), "not = [valid").unwrap();
    Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap()
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let output = tokengate(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        for command in ["serve", "token", "user", "settings", "audit", "explain"] {
            assert!(
                script.contains(command),
                "{shell} completions lack {command}"
            );
        }
    }
    let unknown = tokengate(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
}

#[test]
fn the_manual_page_is_roff_with_the_commands() {
    let output = tokengate(&["man"]);
    assert!(output.status.success(), "{output:?}");
    let page = String::from_utf8(output.stdout).unwrap();
    assert!(page.contains(".TH tokengate 1"), "{page}");
    for command in ["serve", "token", "completions"] {
        assert!(page.contains(command), "the manual lacks {command}");
    }
}

//! The README's "Scripting" section runs verbatim against a real gateway (curl and jq).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, test_config};
use std::process::Command;

fn scripting_block() -> String {
    let readme = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
    )
    .unwrap();
    let section = readme
        .split("## Scripting")
        .nth(1)
        .expect("README has a Scripting section");
    let block = section.split("```sh\n").nth(1).expect("a sh block");
    block.split("\n```").next().unwrap().to_owned()
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_scripting_examples_run_verbatim() {
    if !have("curl") || !have("jq") {
        eprintln!("skipped: curl and jq are needed (CI installs them)");
        return;
    }
    let app = TestApp::spawn_with(test_config(), false).await;
    app.add_user("admin", "admin-pw", true).await;
    app.add_user("alice", "alice-pw", false).await;
    let script = scripting_block().replace("http://127.0.0.1:8700", &app.base);
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("PASSWORD", "alice-pw")
        .env("ADMIN_PASSWORD", "admin-pw")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "script failed:\n{stdout}\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].contains("\"user\":\"alice\"") && lines[0].contains("\"via\":\"token\""),
        "{stdout}"
    );
    assert_eq!(lines[1], "alice");
    assert_eq!(lines[2], "alice@example.com", "her own e-mail");
    assert_eq!(lines[3], "nightly export (db01)");
    assert_eq!(lines[4], "admin", "created_by is the admin");
    assert_eq!(lines[5], "2", "alice's two tokens");
    assert!(
        lines.contains(&"alice") && lines.iter().filter(|line| **line == "admin").count() >= 2,
        "{stdout}"
    );
    let tokens = app.store.tokens(&Default::default()).await.unwrap();
    assert_eq!(
        tokens.len(),
        1,
        "the renamed token was revoked, the deploy bot's remains"
    );
    assert_eq!(tokens[0].name, "deploy bot");
    let alice = app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
}

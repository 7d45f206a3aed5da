//! `tokengate token delete` takes along the tokens made by the deleted one and says which;
//! `token list --json` and `token rotate --json` show `made_by`, `rotated_at` and
//! `rotated_from`. The real binary against its own SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
mod common;

use common::Tokengate;
use serde_json::Value;

/// Records in the database that `child` was made through a request authenticated by `maker`
/// (what the REST API stores; the CLI itself makes tokens with no maker).
fn mark_made_by(tokengate: &Tokengate, child: &str, maker: &str) {
    let url = format!("sqlite://{}", tokengate.dir.path().join("t.db").display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE tokens SET made_by = $1 WHERE id = $2")
            .bind(maker)
            .bind(child)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

fn listed(tokengate: &Tokengate) -> Vec<Value> {
    let list = tokengate.json(&["token", "list", "--json"]);
    list.as_array().unwrap().clone()
}

#[test]
fn deleting_a_token_from_the_command_line_deletes_what_it_made_and_says_so() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", false, "correct horse");
    for name in ["maker", "child", "grandchild", "other"] {
        tokengate.create_token("alice", name);
    }
    let id_of = |name: &str| -> String {
        let all = listed(&tokengate);
        let token = all.iter().find(|token| token["name"] == name).unwrap();
        token["id"].as_str().unwrap().to_owned()
    };
    let (maker, child, grandchild) = (id_of("maker"), id_of("child"), id_of("grandchild"));
    mark_made_by(&tokengate, &child, &maker);
    mark_made_by(&tokengate, &grandchild, &child);
    let made = listed(&tokengate);
    let shown = made
        .iter()
        .find(|token| token["id"] == child.as_str())
        .unwrap();
    assert_eq!(shown["made_by"], maker.as_str());
    let other = made.iter().find(|token| token["name"] == "other").unwrap();
    assert_eq!(other["made_by"], Value::Null, "made by the CLI");

    let run = tokengate.ok(&["token", "delete", &maker]);
    let mut also = [child.clone(), grandchild.clone()];
    also.sort();
    let line = format!("Also deleted the tokens made by it: {}.", also.join(", "));
    assert!(run.stdout.contains(&line), "{run:?}");
    let left: Vec<Value> = listed(&tokengate);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "other");
    let record = &tokengate.audit()[0];
    assert_eq!(record["action"], "token.deleted");
    assert_eq!(record["actor"], "cli");
    assert_eq!(record["details"]["also_deleted"], serde_json::json!(also));
}

#[test]
fn a_rotation_from_the_command_line_shows_when_and_from_which_secret() {
    let tokengate = Tokengate::new();
    tokengate.add_user("alice", false, "correct horse");
    let secret = tokengate.create_token("alice", "ci");
    let before = listed(&tokengate)[0].clone();
    assert_eq!(before["rotated_at"], Value::Null);
    let id = before["id"].as_str().unwrap();
    let rotated = tokengate.json(&["token", "rotate", id, "--json"]);
    assert_eq!(rotated["rotated_from"], before["hint"]);
    assert!(rotated["rotated_at"].is_string());
    assert_ne!(rotated["token"].as_str().unwrap(), secret);
    let after = listed(&tokengate)[0].clone();
    assert_eq!(after["rotated_from"], before["hint"]);
    assert_eq!(after["rotated_at"], rotated["rotated_at"]);
}

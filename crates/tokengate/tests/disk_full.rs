//! Disk full: the SQLite database on a size-limited tmpfs that is then filled up. Writes
//! answer 503 `unavailable` (never 500), token checks and reads go on, the database stays
//! intact, and writes work again once space returns — without a restart. Needs a tmpfs mount
//! (root, and a machine that allows it); prints `skipped: …` otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod process;

use process::{Installation, Server, client};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false);
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk refuses more.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).and_then(|()| file.flush()).is_ok() {}
        // The last bytes too, one at a time.
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn create(server: &Server, token: &str, name: &str) -> (u16, serde_json::Value) {
    let response = client()
        .post(server.url("/tokengate/api/v1/tokens"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

async fn whoami(server: &Server, token: &str) -> u16 {
    client()
        .get(server.url("/tokengate/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .expect("an answer")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_503_keeps_token_checks_and_recovers_without_restart() {
    let Some(disk) = SmallDisk::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let installation = Installation::sqlite(Some(disk.path()));
    let server = installation.serve();
    let admin = installation.cli(&["token", "create", "--user", "admin", "--name", "admin"]);
    let reader = installation.cli(&["token", "create", "--user", "admin", "--name", "reader"]);
    let (admin, reader) = (admin.trim(), reader.trim());
    assert_eq!(create(&server, admin, "before").await.0, 201);

    let filler = disk.fill();
    // The WAL may still hold free room: write until the disk is really out of it.
    let mut refused = None;
    for index in 0..5000 {
        let (status, body) = create(&server, admin, &format!("full-{index}")).await;
        match status {
            201 => continue,
            _ => {
                refused = Some((status, body));
                break;
            }
        }
    }
    let (status, body) = refused.expect("a full disk never refused a write");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(body["request_id"].is_string(), "{body}");
    for attempt in 0..5 {
        let (status, body) = create(&server, admin, &format!("again-{attempt}")).await;
        assert_eq!(status, 503, "{body}");
    }

    // Token checks and reads go on.
    for _ in 0..20 {
        assert_eq!(whoami(&server, reader).await, 200);
    }
    let listed = client()
        .get(server.url("/tokengate/api/v1/tokens"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    assert_eq!(installation.sqlite_integrity().await, "ok");

    // Space returns: writes work again, same process.
    std::fs::remove_file(&filler).expect("remove the filler");
    let (status, body) = create(&server, admin, "after").await;
    assert_eq!(status, 201, "{body}\n{}", server.log());
    assert_eq!(
        whoami(&server, body["token"].as_str().expect("secret")).await,
        200
    );
    drop(server);
    assert_eq!(installation.sqlite_integrity().await, "ok");
    let names: Vec<String> = installation
        .tokens()
        .iter()
        .map(|token| token["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(names.iter().any(|name| name == "after"));
    assert!(!names.iter().any(|name| name.starts_with("again-")));
}

//! The configuration loader on any TOML text: never panics; a configuration it accepts passes
//! its own checks and, written out as TOML again, loads to the same configuration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use tokengate_server::config::Config;

/// A file of this process's own, in a directory without `tokengate.toml`.
fn scratch() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        for (key, _) in std::env::vars() {
            if key.starts_with("TOKENGATE_") {
                // SAFETY: set once, before the loader reads the environment, on one thread.
                unsafe { std::env::remove_var(key) };
            }
        }
        std::env::temp_dir().join(format!("tokengate-fuzz-config-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = scratch();
    if std::fs::write(path, text).is_err() {
        return;
    }
    let Ok(config) = Config::load(Some(path)) else {
        return;
    };
    assert!(config.database_max_connections >= 1);
    assert!(config.security.max_failed_logins >= 1);
    assert!(config.worker_count() >= 1);
    let written = toml::to_string(&config).unwrap_or_default();
    if std::fs::write(path, &written).is_err() {
        return;
    }
    match Config::load(Some(path)) {
        // The first admin's password is never written out.
        Ok(again) => assert_eq!(
            again,
            Config {
                admin_password: None,
                ..config
            },
            "{written}"
        ),
        Err(error) => panic!("the written configuration does not load: {error}\n{written}"),
    }
});

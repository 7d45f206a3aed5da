//! Loading the configuration: defaults, file, environment, and the refusals.
#![allow(clippy::result_large_err)] // figment's Jail closures return its (large) error type
use super::*;
use figment::Jail;

#[test]
fn debug_of_a_configuration_shows_no_database_password_or_admin_password() {
    let config = Config {
        database_url: "postgres://app:s3cr3t-pw@db.example.com/tokengate".into(),
        admin_password: Some("first-admin-pw".into()),
        ..Config::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("s3cr3t-pw"), "{printed}");
    assert!(!printed.contains("first-admin-pw"), "{printed}");
    assert!(
        printed.contains("postgres://app:***@db.example.com/tokengate"),
        "{printed}"
    );
}

#[test]
fn config_defaults_match_the_spec() {
    Jail::expect_with(|_jail| {
        let config = Config::load(None).expect("defaults load");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8700");
        assert_eq!(config.database_url, "sqlite://tokengate.db");
        assert_eq!(config.security.max_failed_logins, 5);
        assert_eq!(config.security.lockout_minutes, 15);
        assert_eq!(config.security.failures_per_minute, 60);
        assert_eq!(
            config.gateway.identity_header.to_string(),
            "x-authenticated-user"
        );
        assert_eq!(config.gateway.anonymous, Anonymous::Deny);
        Ok(())
    });
}

#[test]
fn config_file_then_environment_override_defaults() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "tokengate.toml",
            "listen = \"127.0.0.1:9999\"\n[gateway]\nupstream = \"http://127.0.0.1:9000\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
        )?;
        jail.set_env("TOKENGATE_GATEWAY__UPSTREAM", "http://127.0.0.1:9001");
        jail.set_env("TOKENGATE_SECURITY__LOCKOUT_MINUTES", "0");
        jail.set_env("TOKENGATE_ADMIN_PASSWORD", "first-admin-pw");
        jail.set_env("TOKENGATE_NOT_A_KEY", "ignored");
        let config = Config::load(None).expect("loads");
        assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(
            config.gateway.upstream.as_deref(),
            Some("http://127.0.0.1:9001")
        );
        assert_eq!(config.security.lockout_minutes, 0);
        assert_eq!(
            config.gateway.trusted_proxies,
            vec!["10.0.0.0/8".parse::<IpNet>().expect("net")]
        );
        Ok(())
    });
}

#[test]
fn database_pool_size_defaults_to_ten_and_comes_from_the_environment() {
    Jail::expect_with(|jail| {
        assert_eq!(
            Config::load(None)
                .expect("defaults")
                .database_max_connections,
            10
        );
        jail.set_env("TOKENGATE_DATABASE_MAX_CONNECTIONS", "25");
        assert_eq!(
            Config::load(None).expect("loads").database_max_connections,
            25
        );
        jail.set_env("TOKENGATE_WORKERS", "3");
        assert_eq!(Config::load(None).expect("loads").worker_count(), 3);
        jail.set_env("TOKENGATE_WORKERS", "0");
        assert_eq!(
            Config::load(None).expect("loads").worker_count(),
            std::thread::available_parallelism().map_or(1, usize::from)
        );
        jail.set_env("TOKENGATE_DATABASE_MAX_CONNECTIONS", "0");
        let error = Config::load(None).expect_err("an empty pool");
        assert!(
            error.to_string().contains("database_max_connections"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn config_unknown_keys_are_refused_by_name() {
    Jail::expect_with(|jail| {
        jail.create_file("custom.toml", "[gateway]\nupstreem = \"http://x\"\n")?;
        let error = Config::load(Some(Path::new("custom.toml"))).expect_err("unknown key");
        assert!(error.to_string().contains("upstreem"), "{error}");
        jail.clear_env();
        jail.set_env("TOKENGATE_SECURITY__MAX_FAILED_LOGINZ", "3");
        let error = Config::load(None).expect_err("unknown env key");
        assert!(error.to_string().contains("max_failed_loginz"), "{error}");
        Ok(())
    });
}

#[test]
fn config_bad_values_are_refused_with_a_message() {
    Jail::expect_with(|jail| {
        jail.set_env("TOKENGATE_LISTEN", "nowhere");
        assert!(
            Config::load(None)
                .expect_err("bad listen")
                .to_string()
                .contains("nowhere")
        );
        jail.set_env("TOKENGATE_LISTEN", "127.0.0.1:0");
        jail.set_env("TOKENGATE_GATEWAY__TRUSTED_PROXIES", "[\"not-a-cidr\"]");
        assert!(Config::load(None).is_err());
        let missing = Config::load(Some(Path::new("absent.toml"))).expect_err("missing file");
        assert!(matches!(missing, ConfigError::MissingFile(_)));
        Ok(())
    });
}

#[test]
fn metrics_and_public_url_have_their_defaults_and_are_checked() {
    Jail::expect_with(|jail| {
        let config = Config::load(None).expect("defaults");
        assert_eq!(
            config.metrics_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 8701)))
        );
        assert!(!config.public_url_is_https());
        jail.set_env("TOKENGATE_METRICS_LISTEN", "");
        jail.set_env("TOKENGATE_PUBLIC_URL", "HTTPS://tokens.example.com");
        let config = Config::load(None).expect("loads");
        assert_eq!(config.metrics_listen, None);
        assert!(config.public_url_is_https());
        for (key, value) in [
            ("TOKENGATE_METRICS_LISTEN", "8701"),
            ("TOKENGATE_PUBLIC_URL", "ftp://tokens.example.com"),
            ("TOKENGATE_PUBLIC_URL", "https://"),
        ] {
            jail.set_env(key, value);
            let error = Config::load(None).expect_err(value);
            let name = key.trim_start_matches("TOKENGATE_").to_ascii_lowercase();
            assert!(error.to_string().contains(&name), "{error}");
            jail.set_env(key, "");
        }
        Ok(())
    });
}

#[test]
fn upstreams_other_than_http_and_https_are_refused_naming_the_key() {
    Jail::expect_with(|jail| {
        for upstream in [
            "ftp://api.example.com",
            "ws://127.0.0.1:9000",
            "127.0.0.1:9000",
            "http://",
            "http://127.0.0.1:9000/?debug=1",
            "",
        ] {
            jail.set_env("TOKENGATE_GATEWAY__UPSTREAM", upstream);
            let error = Config::load(None).expect_err(upstream);
            let message = error.to_string();
            assert!(
                message.starts_with("invalid configuration: gateway.upstream"),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
        for upstream in [
            "http://127.0.0.1:9000/base",
            "HTTPS://api.example.com:8443/base",
        ] {
            jail.set_env("TOKENGATE_GATEWAY__UPSTREAM", upstream);
            assert!(Config::load(None).is_ok(), "{upstream}");
        }
        Ok(())
    });
}

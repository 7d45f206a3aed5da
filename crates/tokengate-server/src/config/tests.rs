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

const LDAP_TABLE: &str = r#"
[ldap]
url = "ldaps://ldap.example.com"
bind_dn = "cn=tokengate,ou=services,dc=example,dc=com"
bind_password_file = "ldap-password"
user_base = "ou=people,dc=example,dc=com"
group_base = "ou=groups,dc=example,dc=com"
admin_group = "tokengate-admins"
sync_interval = "30s"
"#;

#[test]
fn ldap_is_off_by_default_and_the_spec_example_loads_with_its_password_file_read() {
    Jail::expect_with(|jail| {
        assert_eq!(Config::load(None).expect("defaults").ldap, None);
        jail.create_file("tokengate.toml", LDAP_TABLE)?;
        jail.create_file("ldap-password", "service-pw-42\n")?;
        let config = Config::load(None).expect("loads");
        let ldap = config.ldap.clone().expect("an [ldap] table");
        assert_eq!(ldap.url, "ldaps://ldap.example.com");
        assert_eq!(
            ldap.bind_password.as_ref().map(|p| p.expose()),
            Some("service-pw-42")
        );
        assert_eq!(
            ldap.user_filter,
            "(&(objectClass=inetOrgPerson)(uid={user}))"
        );
        assert_eq!(ldap.sync_interval, std::time::Duration::from_secs(30));
        assert_eq!(ldap.timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            (
                ldap.name_attribute.as_str(),
                ldap.display_name_attribute.as_str()
            ),
            ("uid", "cn")
        );
        assert_eq!(ldap.email_attribute, "mail");
        assert_eq!(ldap.member_of_attribute, "memberOf");
        let printed = format!("{config:?}");
        assert!(!printed.contains("service-pw-42"), "{printed}");
        let written = serde_json::to_string(&config).expect("serialises");
        assert!(!written.contains("service-pw-42"), "{written}");
        assert!(written.contains("\"sync_interval\":\"30s\""), "{written}");
        Ok(())
    });
}

#[test]
fn ldap_keys_come_from_the_environment_too_and_sync_interval_defaults_to_ten_minutes() {
    Jail::expect_with(|jail| {
        jail.set_env("TOKENGATE_LDAP__URL", "ldap://127.0.0.1:3890");
        jail.set_env("TOKENGATE_LDAP__USER_BASE", "ou=people,dc=example,dc=com");
        jail.set_env("TOKENGATE_LDAP__BIND_DN", "cn=admin,dc=example,dc=com");
        jail.set_env("TOKENGATE_LDAP__BIND_PASSWORD", "env-pw");
        let ldap = Config::load(None).expect("loads").ldap.expect("ldap");
        assert_eq!(ldap.url, "ldap://127.0.0.1:3890");
        assert_eq!(ldap.sync_interval, std::time::Duration::from_secs(600));
        assert_eq!(
            ldap.bind_password.as_ref().map(|p| p.expose()),
            Some("env-pw")
        );
        Ok(())
    });
}

/// Loads the spec example with `key = value` added (or replacing the key) and returns the
/// one-line error.
fn ldap_error(jail: &mut Jail, key: &str, value: &str) -> String {
    let table: String = LDAP_TABLE
        .lines()
        .filter(|line| !line.starts_with(&format!("{key} =")))
        .map(|line| format!("{line}\n"))
        .collect();
    let table = format!("{table}{key} = {value}\n");
    jail.create_file("tokengate.toml", &table).expect("written");
    let error = Config::load(None).expect_err(&table).to_string();
    assert!(!error.contains('\n'), "{error}");
    error
}

#[test]
fn bad_ldap_values_are_refused_with_one_line_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.create_file("ldap-password", "service-pw-42")?;
        let cases = [
            ("url", "\"http://ldap.example.com\"", "ldap.url"),
            ("url", "\"ldap.example.com\"", "ldap.url"),
            ("url", "\"\"", "ldap.url"),
            ("url", "\"ldaps://\"", "ldap.url"),
            ("url", "\"ldaps://ldap.example.com/dc=example\"", "ldap.url"),
            ("url", "\"ldap://ldap.example.com\"", "in clear"),
            ("start_tls", "true", "start_tls is for ldap://"),
            ("user_base", "\"\"", "ldap.user_base"),
            ("user_filter", "\"(uid=alice)\"", "{user}"),
            ("user_filter", "\"(uid={user}\"", "ldap.user_filter"),
            ("user_filter", "\"uid={user}\"", "ldap.user_filter"),
            ("sync_interval", "\"10\"", "sync_interval"),
            ("sync_interval", "\"0s\"", "sync_interval"),
            ("sync_interval", "\"ten minutes\"", "sync_interval"),
            ("timeout", "\"5 s\"", "timeout"),
            (
                "bind_password_file",
                "\"absent-file\"",
                "ldap.bind_password_file",
            ),
            ("bind_password", "\"also-given\"", "either bind_password"),
            ("name_attribute", "\"u id\"", "ldap.name_attribute"),
            ("unknown_key", "1", "unknown_key"),
        ];
        for (key, value, expected) in cases {
            let error = ldap_error(jail, key, value);
            assert!(error.contains(expected), "{key} = {value}: {error}");
            assert!(!error.contains("service-pw-42"), "{error}");
        }
        Ok(())
    });
}

#[test]
fn the_ldap_service_account_needs_a_password_and_plain_ldap_is_for_loopback_only() {
    Jail::expect_with(|jail| {
        jail.set_env("TOKENGATE_LDAP__USER_BASE", "ou=people,dc=example,dc=com");
        jail.set_env("TOKENGATE_LDAP__URL", "ldap://127.0.0.1:3890");
        jail.set_env("TOKENGATE_LDAP__BIND_DN", "cn=admin,dc=example,dc=com");
        let error = Config::load(None).expect_err("no password").to_string();
        assert!(error.contains("ldap.bind_password"), "{error}");
        jail.set_env("TOKENGATE_LDAP__BIND_PASSWORD", "");
        let error = Config::load(None).expect_err("empty password").to_string();
        assert!(error.contains("ldap.bind_password"), "{error}");
        jail.set_env("TOKENGATE_LDAP__BIND_PASSWORD", "pw");
        for url in [
            "ldap://localhost:389",
            "ldap://[::1]:389",
            "ldap://127.0.0.2",
        ] {
            jail.set_env("TOKENGATE_LDAP__URL", url);
            assert!(Config::load(None).is_ok(), "{url}");
        }
        jail.set_env("TOKENGATE_LDAP__URL", "ldap://10.0.0.1");
        assert!(Config::load(None).is_err());
        jail.set_env("TOKENGATE_LDAP__START_TLS", "true");
        assert!(
            Config::load(None).is_ok(),
            "StartTLS makes ldap:// fine anywhere"
        );
        Ok(())
    });
}

//! Notifications over TLS, against a real SMTP server (aiosmtpd) that insists on STARTTLS or
//! speaks implicit TLS, with and without a login, and a webhook receiver serving HTTPS: mail
//! and webhooks go out when the certificate checks out against `ca_file`, and nothing goes
//! out — in clear text or otherwise — when it does not. Passwords never appear in what is
//! recorded of a failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::certificate::TestCertificate;
use common::hooks::Receiver;
use common::notices::{HOOK_SECRET, WAIT, config, people, some_in, token_for_alice};
use common::smtp::{Options, SmtpServer, header};
use common::{TestApp, test_config};
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::notices::DeliveryState;
use tokengate_server::config::Config;
use tokengate_server::config::notify::{SmtpConfig, WebhookConfig};

const SMTP_PASSWORD: &str = "smtp-password-never-shown";

/// A gateway mailing through `smtp` at `url`, trusting `ca_file`, logging in when `login`.
fn mail_config(smtp: &SmtpServer, url: String, ca_file: &str, login: bool) -> Config {
    let mut config = config(Some(smtp), &[]);
    let mail = config.smtp.as_mut().unwrap();
    mail.url = url;
    mail.ca_file = ca_file.to_owned();
    if login {
        mail.username = "tokengate".into();
        mail.password = Some(Secret::new(SMTP_PASSWORD));
    }
    config.notifications.give_up_after = Duration::from_secs(2);
    config
}

/// Starts a gateway with `config`, makes alice a token as root (one "created for you" mail).
async fn one_notice(config: Config) -> TestApp {
    let app = TestApp::spawn_with(config, false).await;
    people(&app, Some("alice@example.com")).await;
    token_for_alice(&app, "deploy").await;
    app
}

fn tls_server(certificate: &TestCertificate, mode: &str, auth: Option<&str>) -> Option<SmtpServer> {
    SmtpServer::start_with(&Options {
        tls: Some(mode),
        cert_key: Some((&certificate.cert_path, &certificate.key_path)),
        auth,
        ..Options::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_goes_out_over_starttls_and_implicit_tls_when_the_certificate_checks_out() {
    let certificate = TestCertificate::new();
    for (mode, scheme, query) in [
        ("starttls", "smtp", "?tls=required"),
        ("implicit", "smtps", ""),
    ] {
        let Some(smtp) = tls_server(&certificate, mode, None) else {
            return;
        };
        let url = format!("{scheme}://localhost:{}{query}", smtp.port);
        let app = one_notice(mail_config(&smtp, url, &certificate.cert_path, false)).await;
        let messages = smtp.wait_for(1, WAIT);
        assert_eq!(messages.len(), 1, "{mode}: one mail");
        assert_eq!(
            header(&messages[0], "Subject").as_deref(),
            Some("An API token \"deploy\" was created for you"),
            "{mode}"
        );
        let sent = some_in(&app, DeliveryState::Sent).await;
        assert_eq!(sent.len(), 1, "{mode}: {sent:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mail_server_whose_certificate_does_not_check_out_gets_nothing_and_nothing_goes_out_in_clear()
 {
    let certificate = TestCertificate::new();
    let other = TestCertificate::new();
    let Some(smtp) = tls_server(&certificate, "starttls", None) else {
        return;
    };
    let port = smtp.port;
    for (url, ca_file, expected) in [
        // Signed by a CA this gateway does not trust; the system's roots neither.
        (
            format!("smtp://localhost:{port}?tls=required"),
            other.cert_path.clone(),
            "certificate",
        ),
        (
            format!("smtp://localhost:{port}?tls=required"),
            String::new(),
            "certificate",
        ),
        // The right CA, but the certificate is for localhost, not this name.
        (
            format!("smtp://127.0.0.1:{port}?tls=required"),
            certificate.cert_path.clone(),
            "certificate",
        ),
        // Implicit TLS to a server that waits for a clear-text greeting.
        (
            format!("smtps://localhost:{port}"),
            certificate.cert_path.clone(),
            "",
        ),
    ] {
        let app = one_notice(mail_config(&smtp, url.clone(), &ca_file, false)).await;
        let failed = some_in(&app, DeliveryState::Failed).await;
        let error = failed[0].last_error.clone().unwrap_or_default();
        assert!(
            error.to_lowercase().contains(expected),
            "{url} with {ca_file:?}: {error}"
        );
        drop(app);
    }
    assert!(smtp.messages().is_empty(), "no mail reached the server");

    // A server without STARTTLS gets nothing from a gateway that requires it: no fallback.
    let Some(plain) = SmtpServer::start(0.0) else {
        return;
    };
    let url = format!("smtp://localhost:{}?tls=required", plain.port);
    let app = one_notice(mail_config(&plain, url, &certificate.cert_path, false)).await;
    let failed = some_in(&app, DeliveryState::Failed).await;
    assert!(failed[0].last_error.is_some(), "{failed:?}");
    assert!(plain.messages().is_empty(), "nothing in clear text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_smtp_login_goes_over_tls_and_a_wrong_password_is_given_up_without_being_shown() {
    let certificate = TestCertificate::new();
    let login = format!("tokengate:{SMTP_PASSWORD}");
    let Some(smtp) = tls_server(&certificate, "starttls", Some(&login)) else {
        return;
    };
    let url = format!("smtp://localhost:{}?tls=required", smtp.port);
    let app = one_notice(mail_config(
        &smtp,
        url.clone(),
        &certificate.cert_path,
        true,
    ))
    .await;
    assert_eq!(smtp.wait_for(1, WAIT).len(), 1, "logged in and sent");
    drop(app);

    // No login at all, then a wrong password: the server refuses for good (5xx), not retried.
    for password in [None, Some("wrong-password-never-shown")] {
        let mut config = mail_config(&smtp, url.clone(), &certificate.cert_path, true);
        config.smtp.as_mut().unwrap().password = password.map(Secret::new);
        if password.is_none() {
            config.smtp.as_mut().unwrap().username.clear();
        }
        let app = one_notice(config).await;
        let failed = some_in(&app, DeliveryState::Failed).await;
        let error = failed[0].last_error.clone().unwrap_or_default();
        assert_eq!(
            failed[0].attempts, 1,
            "a refusal is not retried: {failed:?}"
        );
        for secret in [SMTP_PASSWORD, "wrong-password-never-shown"] {
            assert!(!error.contains(secret), "{error}");
            assert!(!app.metrics().await.contains(secret));
        }
        drop(app);
    }
    assert_eq!(smtp.messages().len(), 1, "only the logged-in mail arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_over_https_is_sent_when_its_ca_file_vouches_for_the_receiver_and_only_then() {
    let certificate = TestCertificate::new();
    let receiver =
        Receiver::start_tls(HOOK_SECRET, &certificate.cert_path, &certificate.key_path).await;
    let mut trusted = config(None, &[(&receiver.https_url(), &["token.created"])]);
    trusted.webhooks[0].ca_file = certificate.cert_path.clone();
    let app = one_notice(trusted).await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    assert!(received[0].signed && received[0].event == "token.created");
    drop(app);

    // The system's roots do not know the test certificate: refused, retried, given up.
    let mut untrusted = config(None, &[(&receiver.https_url(), &["token.created"])]);
    untrusted.notifications.give_up_after = Duration::from_secs(1);
    let app = one_notice(untrusted).await;
    let failed = some_in(&app, DeliveryState::Failed).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(receiver.all().len(), 1, "nothing more arrived");
}

#[test]
fn a_ca_file_is_checked_when_the_configuration_is_loaded() {
    let certificate = TestCertificate::new();
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let not_pem = not_pem.display().to_string();
    let cases: [(&str, String, &str); 5] = [
        (
            "smtp://localhost:25",
            certificate.cert_path.clone(),
            "smtp.ca_file",
        ),
        (
            "smtp://localhost:587?tls=required",
            "/no/such/ca.pem".into(),
            "smtp.ca_file",
        ),
        ("smtps://localhost", not_pem.clone(), "smtp.ca_file"),
        (
            "http://localhost/hook",
            certificate.cert_path.clone(),
            "webhooks[0].ca_file",
        ),
        ("https://localhost/hook", not_pem, "webhooks[0].ca_file"),
    ];
    for (url, ca_file, key) in cases {
        let mut config = test_config();
        if url.starts_with("smtp") {
            config.smtp = Some(SmtpConfig {
                url: url.to_owned(),
                from: "tg@example.com".into(),
                ca_file: ca_file.clone(),
                ..SmtpConfig::default()
            });
        } else {
            config.webhooks = vec![WebhookConfig {
                url: url.to_owned(),
                secret: Some(Secret::new("s")),
                ca_file: ca_file.clone(),
                ..WebhookConfig::default()
            }];
        }
        let problem = config.validate().unwrap_err().to_string();
        assert!(problem.contains(key), "{url} {ca_file}: {problem}");
    }
    // The same files and URLs that fit together load.
    let mut config = test_config();
    config.smtp = Some(SmtpConfig {
        url: "smtps://localhost".into(),
        from: "tg@example.com".into(),
        ca_file: certificate.cert_path.clone(),
        ..SmtpConfig::default()
    });
    config.validate().unwrap();
}

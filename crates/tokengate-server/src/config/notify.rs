//! The `[smtp]`, `[[webhooks]]` and `[notifications]` tables (SPEC §12): where e-mail and
//! webhooks go, and how the outbox is worked. Secrets (the SMTP password, the webhook
//! secrets) are read at load, never written out and never shown by `Debug`.

use super::checks::shorten;
use super::values;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::notices::Event;

/// The mail server notices are sent through.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465` (implicit TLS),
    /// `?tls=opportunistic`, or plain `smtp://host:25` for a local relay.
    pub url: String,
    /// The sender address (`tokengate@example.com`).
    pub from: String,
    /// The SMTP user name, with `password` or `password_file` ("" = no authentication).
    pub username: String,
    /// The SMTP password; or `password_file`. Never written out.
    #[serde(skip_serializing)]
    pub password: Option<Secret>,
    pub password_file: String,
    /// How long connecting and sending one mail may take.
    #[serde(with = "values::duration")]
    pub timeout: Duration,
    /// PEM file of the CA that signed the mail server's certificate ("" = the system's roots);
    /// only with `smtps://` or `?tls=`.
    pub ca_file: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            from: String::new(),
            username: String::new(),
            password: None,
            password_file: String::new(),
            timeout: Duration::from_secs(30),
            ca_file: String::new(),
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpConfig")
            .field("url", &super::checks::without_password(&self.url))
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// One webhook receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Where each event is `POST`ed (`https://…`, or `http://…` inside a trusted network).
    pub url: String,
    /// The HMAC-SHA256 key of `X-Tokengate-Signature`; or `secret_file`. Never written out.
    #[serde(skip_serializing)]
    pub secret: Option<Secret>,
    pub secret_file: String,
    /// The events sent to this receiver; empty = all of them.
    pub events: Vec<String>,
    /// PEM file of the CA that signed the receiver's certificate ("" = the system's roots);
    /// only with `https://`.
    pub ca_file: String,
}

impl WebhookConfig {
    /// Whether this receiver wants `event`.
    pub fn wants(&self, event: Event) -> bool {
        self.events.is_empty() || self.events.iter().any(|name| name == event.as_str())
    }
}

/// How the outbox is worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// How often due expiry notices are looked for (at most 10 minutes).
    #[serde(with = "values::duration")]
    pub expiry_scan: Duration,
    /// How often the outbox is looked at for new notices and due deliveries.
    #[serde(with = "values::duration")]
    pub poll: Duration,
    /// How long a node holds a delivery it claimed; another node takes it over after that
    /// (longer than the longest send: `smtp.timeout` and 10 s for a webhook).
    #[serde(with = "values::duration")]
    pub lease: Duration,
    /// The wait before the first retry of a failed delivery; it doubles, up to an hour.
    #[serde(with = "values::duration")]
    pub retry_after: Duration,
    /// How long a failed delivery is retried before it is given up.
    #[serde(with = "values::duration")]
    pub give_up_after: Duration,
    /// How long settled notices are kept (for the admin page).
    #[serde(with = "values::duration")]
    pub keep: Duration,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            expiry_scan: Duration::from_secs(600),
            poll: Duration::from_secs(2),
            lease: Duration::from_secs(120),
            retry_after: Duration::from_secs(30),
            give_up_after: Duration::from_secs(24 * 3600),
            keep: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// `plain`, or the first line of `file`, for the key `key` (both given is an error).
pub(super) fn secret_or_file(
    key: &str,
    plain: &mut Option<Secret>,
    file: &str,
) -> Result<(), String> {
    if file.is_empty() {
        return Ok(());
    }
    if plain.is_some() {
        return Err(format!("{key}_file: set {key}_file or {key}, not both"));
    }
    let text = std::fs::read_to_string(file).map_err(|error| {
        format!(
            "{key}_file: cannot read {}: {}",
            shorten(file),
            error.kind()
        )
    })?;
    *plain = Some(Secret::new(
        text.lines().next().unwrap_or_default().trim_end(),
    ));
    drop(Secret::new(text));
    Ok(())
}

impl SmtpConfig {
    pub(super) fn read_password_file(&mut self) -> Result<(), String> {
        secret_or_file("smtp.password", &mut self.password, &self.password_file)
    }

    pub(super) fn check(&self) -> Result<(), String> {
        let scheme = self.url.split_once("://").map(|(scheme, _)| scheme);
        if !matches!(scheme, Some("smtp" | "smtps")) {
            return Err(format!(
                "smtp.url: {:?} is not smtp://host[:port] or smtps://host[:port]",
                shorten(&super::checks::without_password(&self.url))
            ));
        }
        if self.password.is_some() && self.username.is_empty() {
            return Err("smtp.username: a password is given but no username".into());
        }
        crate::notify::mail::transport(self)?;
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!(
                "smtp.from: {:?} is not an e-mail address",
                shorten(&self.from)
            ));
        }
        Ok(())
    }
}

/// Checks every `[[webhooks]]` entry; the message names the entry.
pub(super) fn check_webhooks(webhooks: &[WebhookConfig]) -> Result<(), String> {
    for (index, webhook) in webhooks.iter().enumerate() {
        let key = format!("webhooks[{index}]");
        super::checks::check_upstream(&webhook.url)
            .map_err(|problem| format!("{key}.url: {problem}"))?;
        if webhook
            .secret
            .as_ref()
            .is_none_or(|secret| secret.is_empty())
        {
            return Err(format!(
                "{key}.secret: a webhook needs a secret (secret or secret_file)"
            ));
        }
        if let Some(unknown) = webhook
            .events
            .iter()
            .find(|name| Event::parse(name).is_none())
        {
            let known: Vec<&str> = Event::ALL.iter().map(|event| event.as_str()).collect();
            return Err(format!(
                "{key}.events: unknown event {:?}; known: {}",
                shorten(unknown),
                known.join(", ")
            ));
        }
        if !webhook.ca_file.is_empty() {
            if !webhook.url.to_ascii_lowercase().starts_with("https://") {
                return Err(format!("{key}.ca_file: only for https:// receivers"));
            }
            crate::tls::ca_certificates(&webhook.ca_file)
                .map_err(|problem| format!("{key}.{problem}"))?;
        }
        if webhooks[..index]
            .iter()
            .any(|other| other.url == webhook.url)
        {
            return Err(format!("{key}.url: the same URL is configured twice"));
        }
    }
    Ok(())
}

impl NotificationsConfig {
    pub(super) fn check(&self) -> Result<(), String> {
        if self.expiry_scan > Duration::from_secs(600) || self.expiry_scan.is_zero() {
            return Err("notifications.expiry_scan: between 1s and 10m".into());
        }
        for (key, value) in [
            ("poll", self.poll),
            ("lease", self.lease),
            ("retry_after", self.retry_after),
        ] {
            if value.is_zero() {
                return Err(format!("notifications.{key}: must be more than 0s"));
            }
        }
        Ok(())
    }
}

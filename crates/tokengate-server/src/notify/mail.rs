//! E-mail notices: the SMTP transport `[smtp]` describes (STARTTLS, implicit TLS or plain to a
//! local relay, through lettre) and the plain-text mail of each kind of notice, with the
//! token's name, hint, expiry and a link to the gateway.

use crate::config::notify::SmtpConfig;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::Value;
use tokengate_core::notices::{Mail, StoredNotice};

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The transport for `smtp` (connections are made when a mail is sent); the error names the
/// setting at fault.
pub fn transport(smtp: &SmtpConfig) -> Result<Transport, String> {
    let mut builder = Transport::from_url(&smtp.url)
        .map_err(|_| "smtp.url: not a usable mail server URL (host, port, ?tls=)".to_owned())?
        .timeout(Some(smtp.timeout));
    if !smtp.ca_file.is_empty() {
        builder = builder.tls(tls_trusting(&smtp.url, &smtp.ca_file)?);
    }
    if let Some(password) = &smtp.password {
        let user = smtp.username.clone();
        builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
    }
    Ok(builder.build())
}

/// The TLS that `url` asks for (implicit with `smtps://`, STARTTLS with `?tls=`), trusting
/// only the certificates in `ca_file`.
fn tls_trusting(url: &str, ca_file: &str) -> Result<Tls, String> {
    let url = url::Url::parse(url).map_err(|_| "smtp.url: not a URL".to_owned())?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let mut parameters = TlsParameters::builder(host).certificate_store(CertificateStore::None);
    for der in crate::tls::ca_certificates(ca_file).map_err(|problem| format!("smtp.{problem}"))? {
        let certificate = Certificate::from_der(der.to_vec())
            .map_err(|error| format!("smtp.ca_file: unusable certificate: {error}"))?;
        parameters = parameters.add_root_certificate(certificate);
    }
    let parameters = parameters
        .build_rustls()
        .map_err(|error| format!("smtp.ca_file: {error}"))?;
    let mode = url
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, mode)| mode.into_owned());
    match (url.scheme(), mode.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        (_, Some("required")) => Ok(Tls::Required(parameters)),
        (_, Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => Err("smtp.ca_file: the URL asks for no TLS (use smtps:// or ?tls=required)".into()),
    }
}

/// Why a mail could not go out; `permanent` when trying again cannot help.
#[derive(Debug)]
pub struct MailError {
    pub message: String,
    pub permanent: bool,
}

/// Sends the mail of `notice` to `to` (`display name`, address).
pub async fn send(
    transport: &Transport,
    smtp: &SmtpConfig,
    public_url: &str,
    notice: &StoredNotice,
    to: (&str, &str),
) -> Result<(), MailError> {
    let invalid = |message: String| MailError {
        message,
        permanent: true,
    };
    let Some(kind) = &notice.mail else {
        return Err(invalid("the notice has no e-mail".into()));
    };
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|_| invalid("smtp.from is not an address".into()))?;
    let recipient = Mailbox::new(
        Some(one_line(to.0)).filter(|name| !name.is_empty()),
        to.1.parse()
            .map_err(|_| invalid("the user's e-mail address is not valid".into()))?,
    );
    let (subject, body) = text(kind, &notice.data, public_url);
    let message = Message::builder()
        .from(from)
        .to(recipient)
        .subject(one_line(&subject))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|error| invalid(format!("the mail could not be built: {error}")))?;
    transport
        .send(message)
        .await
        .map(drop)
        .map_err(|error| MailError {
            permanent: error.is_permanent(),
            message: format!("SMTP: {error}"),
        })
}

/// `text` without control characters (no header can be smuggled through a name).
fn one_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// The subject and body of a notice's mail.
pub fn text(kind: &Mail, data: &Value, public_url: &str) -> (String, String) {
    let token = data.get("token").unwrap_or(&Value::Null);
    let name = token
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    let hint = token.get("hint").and_then(Value::as_str).unwrap_or("");
    let expiry = match token.get("expires_at").and_then(Value::as_str) {
        Some(at) => chrono::DateTime::parse_from_rfc3339(at)
            .map(|at| at.to_utc().format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|_| at.to_owned()),
        None => "never".to_owned(),
    };
    let described = if hint.is_empty() {
        format!("\"{name}\"")
    } else {
        format!("\"{name}\" ({hint})")
    };
    let (subject, first) = match kind {
        Mail::Expiring { days } => (
            format!(
                "Your API token \"{name}\" expires in {days} day{}",
                if *days == 1 { "" } else { "s" }
            ),
            format!(
                "Your API token {described} expires on {expiry}.\nScripts that use it stop \
                 working then: create a new token, or rotate this one, before that day."
            ),
        ),
        Mail::Expired => (
            format!("Your API token \"{name}\" has expired"),
            format!(
                "Your API token {described} expired on {expiry} and no longer works.\n\
                 Create a new token if you still need one."
            ),
        ),
        Mail::CreatedForYou { by } => (
            format!("An API token \"{name}\" was created for you"),
            format!(
                "{by} created the API token {described} for you.\nIt expires: {expiry}.\n\
                 If you did not expect this, ask your administrator."
            ),
        ),
        Mail::DeletedForYou { by, count: None } => (
            format!("Your API token \"{name}\" was deleted"),
            format!("{by} deleted your API token {described}. It no longer works."),
        ),
        Mail::DeletedForYou { by, count: Some(1) } => (
            "One of your API tokens was deleted".to_owned(),
            format!("{by} deleted one of your API tokens. It no longer works."),
        ),
        Mail::DeletedForYou {
            by,
            count: Some(count),
        } => (
            format!("{count} of your API tokens were deleted"),
            format!("{by} deleted {count} of your API tokens. They no longer work."),
        ),
    };
    let mut body = format!("Hello,\n\n{first}\n");
    if !public_url.is_empty() {
        let link = format!("{}/tokengate/", public_url.trim_end_matches('/'));
        body.push_str(&format!("\nYour tokens: {link}\n"));
    }
    body.push_str("\n-- \ntokengate\n");
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_expiry_mail_names_the_token_its_hint_expiry_and_link() {
        let data = json!({"token": {"name": "ci", "hint": "tg_ab…yz",
                                    "expires_at": "2026-12-31T12:00:00Z"}, "days": 7});
        let (subject, body) = text(
            &Mail::Expiring { days: 7 },
            &data,
            "https://tokens.example.com/",
        );
        assert_eq!(subject, "Your API token \"ci\" expires in 7 days");
        assert!(
            body.contains("\"ci\" (tg_ab…yz) expires on 2026-12-31 12:00 UTC"),
            "{body}"
        );
        assert!(
            body.contains("https://tokens.example.com/tokengate/"),
            "{body}"
        );
        let (one_day, _) = text(&Mail::Expiring { days: 1 }, &data, "");
        assert!(one_day.ends_with("in 1 day"), "{one_day}");
    }

    #[test]
    fn bulk_deletions_say_how_many() {
        let (subject, body) = text(
            &Mail::DeletedForYou {
                by: "root".into(),
                count: Some(3),
            },
            &json!({"tokens": {"owner": "alice", "count": 3}}),
            "",
        );
        assert_eq!(subject, "3 of your API tokens were deleted");
        assert!(body.contains("root deleted 3"), "{body}");
        assert!(!body.contains("Your tokens:"), "no link without public_url");
    }

    #[test]
    fn control_characters_never_reach_a_header() {
        assert_eq!(one_line("a\r\nBcc: x@evil\u{7f}"), "aBcc: x@evil");
    }
}

//! The access log (`access_log = "text" | "json" | "off"`): one line per request on stderr,
//! written by a thread of its own so a request never waits for the terminal or the journal.
//! Fields: time, request id, client address, method, path without its query, route, status,
//! user, via, token id, response bytes (when known), duration. Never a secret: no header
//! value, no query string (tokens and passwords travel there in some clients).

use crate::config::AccessLog;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokengate_core::decision::Identity;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

/// What a handler knows that the entrance does not: put into the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct AccessFacts {
    pub route: Option<Arc<str>>,
    pub user: Option<String>,
    pub via: Option<&'static str>,
    pub token_id: Option<String>,
    /// The client as the decision determined it (trusted proxies followed).
    pub client: Option<IpAddr>,
}

impl AccessFacts {
    /// The identity's part of the facts.
    pub fn identify(&mut self, identity: &Identity) {
        self.user.clone_from(&identity.user);
        self.via = Some(identity.via.as_str());
        self.token_id.clone_from(&identity.token_id);
    }
}

/// One served request, as the entrance saw it.
pub struct Served<'a> {
    pub request_id: &'a str,
    pub client: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: Option<u64>,
    pub duration: Duration,
    pub facts: Option<&'a AccessFacts>,
}

/// The writer: `None` when the log is off.
pub struct AccessLogger {
    form: AccessLog,
    writer: NonBlocking,
    _flush_on_drop: WorkerGuard,
}

impl AccessLogger {
    pub fn new(form: AccessLog) -> Option<Self> {
        if form == AccessLog::Off {
            return None;
        }
        let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
        Some(Self {
            form,
            writer,
            _flush_on_drop: guard,
        })
    }

    /// Writes one line (dropped, not waited for, when the writer is far behind).
    pub fn write(&self, served: &Served<'_>) {
        let line = match self.form {
            AccessLog::Json => json_line(served),
            _ => text_line(served),
        };
        let _ = self.writer.clone().write_all(line.as_bytes());
    }
}

/// When a handler noted nothing.
static NO_FACTS: AccessFacts = AccessFacts {
    route: None,
    user: None,
    via: None,
    token_id: None,
    client: None,
};

fn text_line(served: &Served<'_>) -> String {
    let facts = served.facts.unwrap_or(&NO_FACTS);
    let client = facts.client.unwrap_or(served.client);
    let mut line = String::with_capacity(160);
    let _ = write!(
        line,
        "{} {} {} {} {} route={} status={} user={} via={} token={} bytes={} ms={:.3}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        served.request_id,
        client,
        served.method,
        printable(served.path),
        facts.route.as_deref().unwrap_or("-"),
        served.status,
        facts.user.as_deref().map_or("-".into(), printable),
        facts.via.unwrap_or("-"),
        facts.token_id.as_deref().unwrap_or("-"),
        served
            .bytes
            .map_or("-".to_owned(), |bytes| bytes.to_string()),
        served.duration.as_secs_f64() * 1000.0,
    );
    line.push('\n');
    line
}

fn json_line(served: &Served<'_>) -> String {
    let facts = served.facts.unwrap_or(&NO_FACTS);
    let mut line = serde_json::json!({
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "request_id": served.request_id,
        "client": facts.client.unwrap_or(served.client).to_string(),
        "method": served.method,
        "path": served.path,
        "route": facts.route.as_deref(),
        "status": served.status,
        "user": facts.user,
        "via": facts.via,
        "token_id": facts.token_id,
        "bytes": served.bytes,
        "duration_ms": served.duration.as_secs_f64() * 1000.0,
    })
    .to_string();
    line.push('\n');
    line
}

/// `text` with control characters and spaces escaped, so one request is one line and fields
/// stay apart whatever a client sends.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(200));
    for character in text.chars().take(200) {
        if character.is_control() || character == ' ' || character == '\\' {
            let _ = write!(out, "\\x{:02x}", u32::from(character));
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served<'a>(path: &'a str, facts: Option<&'a AccessFacts>) -> Served<'a> {
        Served {
            request_id: "abc",
            client: "10.0.0.1".parse().expect("ip"),
            method: "GET",
            path,
            status: 200,
            bytes: Some(3),
            duration: Duration::from_micros(1500),
            facts,
        }
    }

    #[test]
    fn a_text_line_is_one_line_with_every_field_and_hostile_paths_escaped() {
        let facts = AccessFacts {
            route: Some(Arc::from("jira")),
            user: Some("alice smith".into()),
            via: Some("token"),
            token_id: Some("t-1".into()),
            client: Some("192.0.2.7".parse().expect("ip")),
        };
        let line = text_line(&served("/a b\n/c", Some(&facts)));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.ends_with('\n'));
        for field in [
            " abc 192.0.2.7 GET /a\\x20b\\x0a/c route=jira status=200 user=alice\\x20smith",
            "via=token token=t-1 bytes=3 ms=1.500",
        ] {
            assert!(line.contains(field), "{field} in {line}");
        }
        let bare = text_line(&served("/x", None));
        assert!(
            bare.contains("10.0.0.1 GET /x route=- status=200 user=- via=- token=-"),
            "{bare}"
        );
    }

    #[test]
    fn a_json_line_parses_and_carries_no_query() {
        let line = json_line(&served("/p", None));
        let value: serde_json::Value = serde_json::from_str(line.trim_end()).expect("json");
        assert_eq!(value["path"], "/p");
        assert_eq!(value["status"], 200);
        assert_eq!(value["route"], serde_json::Value::Null);
        assert!(line.ends_with('\n'));
    }
}

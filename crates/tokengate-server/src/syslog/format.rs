//! One audit record as an RFC 5424 syslog message, and its RFC 6587 octet-counting frame.
//! Pure: the host name and process id are given, nothing is read or sent here. The message
//! body is the record exactly as `tokengate audit export` writes it, as JSON on one line with
//! every non-ASCII character escaped, so MSG is plain ASCII (no byte-order mark needed) and
//! any JSON parser reads the same record back.

use serde::Serialize;
use std::io;
use tokengate_core::model::AuditRecord;

/// `authpriv`: security and authorisation messages (RFC 5424 §6.2.1, facility 10).
const FACILITY_AUTHPRIV: u8 = 10;
const APP_NAME: &str = "tokengate";
/// The structured data element: tokengate's name at the example enterprise number of RFC 5612
/// (32473), as tokengate has no private enterprise number of its own.
const SD_ID: &str = "tokengate@32473";

/// The machine and process a message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSource {
    /// The HOSTNAME field: printable ASCII, at most 255 characters, or `-`.
    pub hostname: String,
    pub pid: u32,
}

impl MessageSource {
    /// This machine's host name (or `-` when it is not printable ASCII) and this process.
    pub fn of_this_process() -> Self {
        let name = gethostname::gethostname();
        Self {
            hostname: header_field(name.to_str().unwrap_or(""), 255),
            pid: std::process::id(),
        }
    }
}

/// `text` when it is 1 to `limit` printable ASCII characters without spaces (RFC 5424's
/// PRINTUSASCII), else the NILVALUE `-`.
fn header_field(text: &str, limit: usize) -> String {
    let printable =
        (1..=limit).contains(&text.len()) && text.bytes().all(|b| (33..=126).contains(&b));
    match printable {
        true => text.to_owned(),
        false => "-".to_owned(),
    }
}

/// The severity of an action: warning for refused authentications, informational for
/// accepted ones, notice for every change.
pub fn severity(action: &str) -> u8 {
    match action {
        "auth.failed" | "auth.denied" => 4,
        "auth.succeeded" => 6,
        _ => 5,
    }
}

/// `value` as an SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3).
pub fn escape_param_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        if matches!(character, '"' | '\\' | ']') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// The record as the export writes it, on one line, non-ASCII characters as `\uXXXX`.
pub fn ascii_json(record: &AuditRecord) -> io::Result<String> {
    let mut bytes = Vec::with_capacity(512);
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, AsciiFormatter);
    record
        .serialize(&mut serializer)
        .map_err(io::Error::other)?;
    String::from_utf8(bytes).map_err(io::Error::other)
}

/// serde_json's compact form, with every character above U+007F written as a `\u` escape
/// (two, a surrogate pair, above U+FFFF).
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, character) in fragment.char_indices() {
            if character.is_ascii() {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..index])?;
            let mut units = [0u16; 2];
            for unit in character.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            start = index + character.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// The RFC 5424 message of `record`:
/// `<PRI>1 TIMESTAMP HOSTNAME tokengate PROCID MSGID [tokengate@32473 id=".." hash=".."] MSG`.
pub fn message(record: &AuditRecord, source: &MessageSource) -> io::Result<String> {
    let action = record.action.as_str();
    let priority = FACILITY_AUTHPRIV * 8 + severity(action);
    let timestamp = record.at.format("%Y-%m-%dT%H:%M:%S%.3fZ");
    Ok(format!(
        "<{priority}>1 {timestamp} {host} {APP_NAME} {pid} {msgid} [{SD_ID} id=\"{id}\" hash=\"{hash}\"] {body}",
        host = source.hostname,
        pid = source.pid,
        msgid = header_field(action, 32),
        id = record.id,
        hash = escape_param_value(&record.hash),
        body = ascii_json(record)?,
    ))
}

/// `message` framed for TCP by octet counting (RFC 6587 §3.4.1): `LENGTH SP MESSAGE`.
pub fn octet_counted(message: &str) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message.as_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tokengate_core::model::AuditAction;

    fn record(details: serde_json::Value) -> AuditRecord {
        AuditRecord {
            id: 42,
            at: chrono::Utc
                .timestamp_millis_opt(1_800_000_000_123)
                .single()
                .expect("instant"),
            actor: "root".into(),
            action: AuditAction::TokenCreated,
            user: Some("alice".into()),
            token_id: Some("tok-1".into()),
            details,
            ip: Some("192.0.2.7".into()),
            request_id: Some("req-1".into()),
            prev_hash: "0".repeat(64),
            hash: "ab".repeat(32),
        }
    }

    fn source() -> MessageSource {
        MessageSource {
            hostname: "gate-1".into(),
            pid: 4242,
        }
    }

    #[test]
    fn a_change_is_an_authpriv_notice_with_the_record_in_every_field() {
        let record = record(serde_json::json!({"name": "CI"}));
        let text = message(&record, &source()).expect("message");
        let expected_head = format!(
            "<85>1 2027-01-15T08:00:00.123Z gate-1 tokengate 4242 token.created \
             [tokengate@32473 id=\"42\" hash=\"{}\"] ",
            "ab".repeat(32)
        );
        assert!(text.starts_with(&expected_head), "{text}");
        let body = &text[expected_head.len()..];
        assert_eq!(body, serde_json::to_string(&record).expect("json"));
    }

    #[test]
    fn authentication_events_have_their_own_severities() {
        assert_eq!(severity("auth.succeeded"), 6);
        assert_eq!(severity("auth.failed"), 4);
        assert_eq!(severity("auth.denied"), 4);
        let changes = AuditAction::ALL
            .into_iter()
            .filter(|action| !action.as_str().starts_with("auth."));
        for action in changes {
            assert_eq!(severity(action.as_str()), 5, "{action}");
        }
    }

    #[test]
    fn quotes_backslashes_and_brackets_are_escaped_in_parameter_values() {
        assert_eq!(escape_param_value(r#"a"b\c]d[e"#), r#"a\"b\\c\]d[e"#);
        assert_eq!(escape_param_value("plain"), "plain");
    }

    #[test]
    fn the_body_is_ascii_on_one_line_and_reads_back_as_the_same_record() {
        let tricky = "na\"me] with \\ and\nnew line, ümlaut, 名前 and 🔑";
        let record = record(serde_json::json!({"name": tricky}));
        let body = ascii_json(&record).expect("json");
        assert!(body.is_ascii(), "{body}");
        assert!(!body.contains('\n'), "{body}");
        assert!(
            body.contains("\\u00fc") && body.contains("\\ud83d\\udd11"),
            "{body}"
        );
        let back: AuditRecord = serde_json::from_str(&body).expect("parse");
        assert_eq!(back, record);
    }

    #[test]
    fn header_fields_that_are_not_printable_ascii_are_nil() {
        assert_eq!(
            header_field("gate-1.example.com", 255),
            "gate-1.example.com"
        );
        for bad in ["", "with space", "hôte", "tab\there"] {
            assert_eq!(header_field(bad, 255), "-", "{bad:?}");
        }
        assert_eq!(header_field(&"x".repeat(33), 32), "-");
    }

    #[test]
    fn tcp_frames_count_octets_not_characters() {
        assert_eq!(octet_counted("<85>1 é"), "8 <85>1 é".as_bytes());
    }
}

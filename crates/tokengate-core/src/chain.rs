//! The audit log's hash chain (SPEC §13): every record stores the hash of the record before it
//! (`prev_hash`) and its own `hash = SHA-256(prev_hash ‖ canonical JSON of the record)`, hex.
//! The first record follows [`GENESIS`]; after retention pruned the oldest records, the first
//! one left follows the last pruned hash, which the `audit.pruned` record carries. [`Verifier`]
//! walks records in id order and names the first one that does not fit: altered (its hash is
//! wrong), preceded by a removed or inserted record (its `prev_hash` is not its predecessor's
//! hash), or missing at the end (the chain head the store keeps names a later record).

use crate::audit::{AuditAction, AuditRecord};
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first record ever written.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of a record that its hash covers, in their canonical JSON form: keys sorted at
/// every level, no whitespace, times as RFC 3339 UTC with milliseconds.
pub fn canonical_json(record: &AuditRecord) -> String {
    String::from_utf8_lossy(&canonical_bytes(record)).into_owned()
}

/// [`canonical_json`] as bytes, written straight from the record: the top-level keys in their
/// sorted order (`action` < `actor` < `at` < `details` < `id` < `ip` < `request_id` <
/// `token_id` < `user`), strings and numbers escaped and written as serde_json writes them.
fn canonical_bytes(record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"{\"action\":");
    push_string(&mut out, record.action.as_str());
    out.extend_from_slice(b",\"actor\":");
    push_string(&mut out, &record.actor);
    out.extend_from_slice(b",\"at\":");
    push_string(
        &mut out,
        &record.at.to_rfc3339_opts(SecondsFormat::Millis, true),
    );
    out.extend_from_slice(b",\"details\":");
    write_canonical(&record.details, &mut out);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(record.id.to_string().as_bytes());
    for (key, value) in [
        (&b",\"ip\":"[..], &record.ip),
        (b",\"request_id\":", &record.request_id),
        (b",\"token_id\":", &record.token_id),
        (b",\"user\":", &record.user),
    ] {
        out.extend_from_slice(key);
        match value {
            Some(text) => push_string(&mut out, text),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    out
}

/// `value` as serde_json writes it (quoted and escaped, or a number, `true`, `null`).
fn push_scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing JSON to a Vec cannot fail for these types.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn push_string(out: &mut Vec<u8>, text: &str) {
    push_scalar(out, text);
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                push_string(out, key);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => push_scalar(out, scalar),
    }
}

/// `hash` of a record that follows `prev_hash`.
pub fn chain_hash(prev_hash: &str, record: &AuditRecord) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_bytes(record));
    hex_of(&hasher.finalize())
}

fn hex_of(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// What a walk of the chain found (`GET /admin/audit/verify`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// Records walked.
    pub records: u64,
    /// The first record that does not fit the chain (`None` when it is intact).
    pub first_bad_id: Option<i64>,
}

/// Walks a chain record by record, in id order, up to the head the store named when the walk
/// began (records appended meanwhile are left for the next walk).
#[derive(Debug)]
pub struct Verifier {
    head: Option<(i64, String)>,
    expected_prev: Option<String>,
    last: Option<(i64, String)>,
    records: u64,
    first_bad_id: Option<i64>,
    /// The first record's `prev_hash` when it is not [`GENESIS`] (the oldest records were
    /// pruned): an `audit.pruned` record must carry it.
    anchor: Option<(i64, String)>,
    anchor_confirmed: bool,
}

impl Verifier {
    /// A walk up to `head` (id and hash of the newest record, as the store keeps it).
    pub fn new(head: Option<(i64, String)>) -> Self {
        Self {
            head,
            expected_prev: None,
            last: None,
            records: 0,
            first_bad_id: None,
            anchor: None,
            anchor_confirmed: false,
        }
    }

    /// The id after which the walk stops (`None`: no head, walk everything).
    pub fn head_id(&self) -> Option<i64> {
        self.head.as_ref().map(|(id, _)| *id)
    }

    /// Checks the next record.
    pub fn feed(&mut self, record: &AuditRecord) {
        self.records += 1;
        if self.first_bad_id.is_some() {
            return;
        }
        let fits = match &self.expected_prev {
            Some(expected) => record.prev_hash == *expected,
            None => true,
        };
        if !fits || chain_hash(&record.prev_hash, record) != record.hash {
            self.first_bad_id = Some(record.id);
            return;
        }
        if self.expected_prev.is_none() && record.prev_hash != GENESIS {
            self.anchor = Some((record.id, record.prev_hash.clone()));
        }
        if record.action == AuditAction::AuditPruned
            && let Some((_, anchor)) = &self.anchor
            && record
                .details
                .get("last_pruned_hash")
                .and_then(Value::as_str)
                == Some(anchor)
        {
            self.anchor_confirmed = true;
        }
        self.expected_prev = Some(record.hash.clone());
        self.last = Some((record.id, record.hash.clone()));
    }

    /// The verdict once every record up to the head was fed.
    pub fn finish(self) -> Verification {
        let mut first_bad_id = self.first_bad_id;
        if first_bad_id.is_none()
            && let Some((id, _)) = &self.anchor
            && !self.anchor_confirmed
        {
            first_bad_id = Some(*id);
        }
        if first_bad_id.is_none()
            && let Some(head) = &self.head
            && self.last.as_ref() != Some(head)
        {
            // The newest records are gone, or the newest one was changed.
            first_bad_id = Some(head.0);
        }
        Verification {
            ok: first_bad_id.is_none(),
            records: self.records,
            first_bad_id,
        }
    }
}

#[cfg(test)]
#[path = "chain/tests.rs"]
mod tests;

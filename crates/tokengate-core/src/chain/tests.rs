use super::*;
use chrono::{TimeZone, Utc};
use serde_json::json;

/// A chain of `count` records as the store writes them.
fn chain(count: i64) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = Vec::new();
    for id in 1..=count {
        let prev_hash = records
            .last()
            .map_or(GENESIS.to_owned(), |last| last.hash.clone());
        let mut record = AuditRecord {
            id,
            at: Utc.timestamp_millis_opt(1_790_000_000_123 + id).unwrap(),
            actor: "root".into(),
            action: AuditAction::TokenCreated,
            user: Some("alice".into()),
            token_id: Some(format!("tok{id}")),
            details: json!({"name": format!("t{id}"), "nested": {"b": 1, "a": [2, {"z": 0, "y": 1}]}}),
            ip: Some("192.0.2.1".into()),
            request_id: None,
            prev_hash,
            hash: String::new(),
        };
        record.hash = chain_hash(&record.prev_hash, &record);
        records.push(record);
    }
    records
}

fn verify(records: &[AuditRecord], head: Option<(i64, String)>) -> Verification {
    let mut verifier = Verifier::new(head);
    for record in records {
        verifier.feed(record);
    }
    verifier.finish()
}

fn head_of(records: &[AuditRecord]) -> Option<(i64, String)> {
    records.last().map(|last| (last.id, last.hash.clone()))
}

#[test]
fn canonical_json_sorts_keys_at_every_level_and_writes_times_to_the_millisecond() {
    let record = &chain(1)[0];
    let text = canonical_json(record);
    assert!(text.starts_with("{\"action\":\"token.created\",\"actor\":\"root\",\"at\":\"2026-"));
    assert!(text.contains(".124Z\""), "{text}");
    assert!(
        text.contains("\"nested\":{\"a\":[2,{\"y\":1,\"z\":0}],\"b\":1}"),
        "{text}"
    );
    assert!(!text.contains(' '));
    assert!(
        !text.contains("hash"),
        "the hashes are not part of what is hashed"
    );
}

#[test]
fn an_untouched_chain_verifies() {
    let records = chain(50);
    let verdict = verify(&records, head_of(&records));
    assert_eq!(
        verdict,
        Verification {
            ok: true,
            records: 50,
            first_bad_id: None
        }
    );
    assert!(verify(&[], None).ok);
}

#[test]
fn an_altered_record_is_the_first_bad_one() {
    let mut records = chain(10);
    let head = head_of(&records);
    records[4].details = json!({"name": "changed"});
    assert_eq!(verify(&records, head.clone()).first_bad_id, Some(5));
    let mut records = chain(10);
    records[6].actor = "mallory".into();
    assert_eq!(verify(&records, head).first_bad_id, Some(7));
}

#[test]
fn a_removed_record_makes_its_successor_the_first_bad_one() {
    let mut records = chain(10);
    let head = head_of(&records);
    records.remove(3);
    assert_eq!(verify(&records, head).first_bad_id, Some(5));
}

#[test]
fn an_inserted_record_is_the_first_bad_one_even_with_a_fitting_hash() {
    let mut records = chain(10);
    let head = head_of(&records);
    let mut forged = records[3].clone();
    forged.id = 100;
    forged.details = json!({"name": "forged"});
    forged.prev_hash = records[3].hash.clone();
    forged.hash = chain_hash(&forged.prev_hash, &forged);
    records.insert(4, forged);
    assert_eq!(verify(&records, head).first_bad_id, Some(5));
}

#[test]
fn two_records_swapped_are_found_at_the_first_of_them() {
    let mut records = chain(10);
    let head = head_of(&records);
    let (a, b) = (records[2].id, records[3].id);
    records[2].id = b;
    records[3].id = a;
    records.swap(2, 3);
    assert_eq!(verify(&records, head).first_bad_id, Some(3));
}

#[test]
fn removing_the_newest_records_is_found_through_the_head() {
    let mut records = chain(10);
    let head = head_of(&records);
    records.truncate(8);
    assert_eq!(verify(&records, head).first_bad_id, Some(10));
}

#[test]
fn a_pruned_start_verifies_only_when_an_audit_pruned_record_carries_its_hash() {
    let records = chain(10);
    let last_pruned_hash = records[3].hash.clone();
    let mut kept: Vec<AuditRecord> = records[4..].to_vec();
    assert_eq!(verify(&kept, head_of(&kept)).first_bad_id, Some(5));
    let mut pruned = AuditRecord {
        id: 11,
        action: AuditAction::AuditPruned,
        details: json!({"count": 4, "last_pruned_hash": last_pruned_hash}),
        prev_hash: kept.last().unwrap().hash.clone(),
        ..kept[0].clone()
    };
    pruned.hash = chain_hash(&pruned.prev_hash, &pruned);
    kept.push(pruned);
    assert!(verify(&kept, head_of(&kept)).ok);
}

/// A record with everything JSON can make awkward, and optional fields both set and absent.
fn awkward(id: i64, optional: bool) -> AuditRecord {
    AuditRecord {
        id,
        at: Utc.timestamp_millis_opt(1_790_000_000_007).unwrap(),
        actor: "ädmin \"quoted\"".into(),
        action: AuditAction::AuthDenied,
        user: optional.then(|| "bob\\".into()),
        token_id: optional.then(|| "tok\u{1}".into()),
        details: json!({
            "zeta": [1.5, -2, 18_446_744_073_709_551_615_u64, null, true, false],
            "Älpha": "tab\tnew\nline </script> \u{2028} 😀",
            "alpha": {"b": [], "a": {}, "": "empty key"},
            "path": "/a%2Fb?x=1#f",
        }),
        ip: optional.then(|| "2001:db8::1".into()),
        request_id: optional.then(|| "req-1".into()),
        prev_hash: GENESIS.into(),
        hash: String::new(),
    }
}

#[test]
fn the_canonical_form_and_hash_stay_what_existing_chains_were_written_with() {
    let full = awkward(41, true);
    let bare = awkward(42, false);
    // Known answers: a change to the canonical form would break every chain already written.
    assert_eq!(
        chain_hash(GENESIS, &full),
        "26fbc611ac283747b0c475d3d8bf4bad6d7723a235adb0cbb8630d6caad47b60"
    );
    assert_eq!(
        chain_hash(GENESIS, &bare),
        "5510a337559ad98c37cca8fab54088fcebbf58e3e9b29b46e779c402a63ce0b4"
    );
    assert!(
        canonical_json(&bare).ends_with(
            ",\"id\":42,\"ip\":null,\"request_id\":null,\"token_id\":null,\"user\":null}"
        )
    );
}

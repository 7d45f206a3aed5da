//! Backend-neutral pieces of the token queries, shared by every backend so they cannot drift:
//! the folded form of a token name, the `"count"` and `"also_deleted"` merged into an audit
//! record's details, and the latest use per token in a batch. No SQL here.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokengate_core::model::TokenUse;

/// The form of a token name that the case-insensitive name filter searches (Unicode-aware,
/// unlike SQLite's ASCII-only `lower()`; PostgreSQL's `lower()` would depend on the locale).
pub(crate) fn folded(name: &str) -> String {
    name.to_lowercase()
}

/// `details` with `"count": n` added (a non-object is replaced by `{"count": n}`).
pub(crate) fn with_count(details: &Value, count: u64) -> Value {
    with_field(details, "count", Value::from(count))
}

/// `details` with `"also_deleted": [ids]` added: the tokens a deletion removed because a
/// token it removed had made them (a non-object is replaced by `{"also_deleted": …}`).
pub(crate) fn with_also_deleted(details: &Value, ids: &[String]) -> Value {
    with_field(details, "also_deleted", Value::from(ids.to_vec()))
}

fn with_field(details: &Value, key: &str, value: Value) -> Value {
    let mut object = match details {
        Value::Object(object) => object.clone(),
        _ => Map::new(),
    };
    object.insert(key.into(), value);
    Value::Object(object)
}

/// The latest use of each token in a batch; on equal times the later entry wins.
pub(crate) fn latest_uses(uses: &[TokenUse]) -> BTreeMap<&str, &TokenUse> {
    let mut latest: BTreeMap<&str, &TokenUse> = BTreeMap::new();
    for token_use in uses {
        let entry = latest
            .entry(token_use.token_id.as_str())
            .or_insert(token_use);
        if token_use.at >= entry.at {
            *entry = token_use;
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn use_of(token_id: &str, seconds: i64, ip: &str) -> TokenUse {
        TokenUse {
            token_id: token_id.into(),
            at: DateTime::<Utc>::from_timestamp(seconds, 0).expect("instant"),
            ip: ip.into(),
        }
    }

    #[test]
    fn latest_use_per_token_wins_and_ties_go_to_the_later_entry() {
        let uses = [
            use_of("a", 20, "10.0.0.2"),
            use_of("a", 10, "10.0.0.1"),
            use_of("b", 5, "10.0.0.3"),
            use_of("b", 5, "10.0.0.4"),
        ];
        let latest = latest_uses(&uses);
        assert_eq!(latest["a"].ip, "10.0.0.2");
        assert_eq!(latest["b"].ip, "10.0.0.4");
    }

    #[test]
    fn count_is_merged_into_the_details_object() {
        assert_eq!(
            with_count(&json!({"reason": "left"}), 3),
            json!({"reason": "left", "count": 3})
        );
        assert_eq!(with_count(&Value::Null, 0), json!({"count": 0}));
    }

    #[test]
    fn ids_deleted_with_their_maker_are_merged_into_the_details_object() {
        assert_eq!(
            with_also_deleted(
                &json!({"name": "ci", "count": 1}),
                &["b".into(), "c".into()]
            ),
            json!({"name": "ci", "count": 1, "also_deleted": ["b", "c"]})
        );
        assert_eq!(
            with_also_deleted(&Value::Null, &[]),
            json!({"also_deleted": []})
        );
    }

    #[test]
    fn name_folding_is_unicode_aware() {
        assert_eq!(folded("ÉCOLE CI"), "école ci");
    }
}

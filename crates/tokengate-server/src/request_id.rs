//! Request ids (STYLE habit 12): accepted from a trusted proxy's `X-Request-Id`, generated
//! otherwise (see `crate::entrance`), returned on every response, present on every log line and
//! audit record of the request.

use axum::http::{HeaderName, HeaderValue};
use std::cell::Cell;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `future` as the request `id`: [`current_request_id`] answers `id` inside it.
pub async fn scope<F: Future>(id: String, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The id of the request being served, or `-` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// The request id, as an extension for handlers.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A request id from a client, when it looks like one (1 to 128 of `[A-Za-z0-9._-]`).
pub fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    ok.then(|| text.to_owned())
}

thread_local! {
    /// Per-thread generator state: a random key (from the OS, once per thread) and a counter.
    static ID_STATE: Cell<(u64, u64, u64)> = Cell::new(id_seed());
}

fn id_seed() -> (u64, u64, u64) {
    let seed = uuid::Uuid::new_v4().as_u64_pair();
    (seed.0, seed.1, 0)
}

/// SplitMix64's finaliser: a bijection on u64 that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A version-4 UUID in simple form (32 lowercase hex digits). Request ids need to be unique,
/// not secret: they come from a per-thread key drawn from the OS once and a counter, so the
/// hot path makes no system call and no formatting pass.
pub fn new_request_id() -> String {
    let (k1, k2, counter) = ID_STATE.with(|state| {
        let (k1, k2, counter) = state.get();
        state.set((k1, k2, counter.wrapping_add(1)));
        (k1, k2, counter)
    });
    let high = mix(counter ^ k1);
    let low = mix(counter.wrapping_add(k2).rotate_left(17) ^ high);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut text = [0u8; uuid::fmt::Simple::LENGTH];
    uuid.simple().encode_lower(&mut text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_distinct_v4_uuids_in_simple_form() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.len(), 32);
            let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(uuid.get_version_num(), 4);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(uuid.simple().to_string(), *id, "lowercase simple form");
        }
    }

    #[test]
    fn threads_generate_distinct_ids() {
        let other = std::thread::spawn(|| (0..1000).map(|_| new_request_id()).collect::<Vec<_>>())
            .join()
            .expect("thread");
        let mine: HashSet<String> = (0..1000).map(|_| new_request_id()).collect();
        assert!(other.iter().all(|id| !mine.contains(id)));
    }
}

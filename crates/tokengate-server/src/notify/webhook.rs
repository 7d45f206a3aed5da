//! Webhook deliveries: one JSON `POST` per event, `{"event", "delivery_id", "at", "data"}`,
//! signed like GitHub's (`X-Tokengate-Signature: sha256=<hex HMAC-SHA256 of the body>`), the
//! delivery id also in `X-Tokengate-Delivery`. Any 2xx answer is a delivery; redirects are
//! not followed.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use std::time::Duration;
use tokengate_core::Secret;
use tokengate_core::notices::StoredNotice;

/// How long one webhook request may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for a webhook (trusting `ca_file`, else the system's roots; no redirects).
pub fn client(ca_file: Option<&str>) -> Result<reqwest::Client, String> {
    let tls = crate::tls::client_config(ca_file)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tokengate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("cannot build the webhook HTTP client: {error}"))
}

/// The body of delivery `delivery_id` of `notice`: the same bytes on every attempt.
pub fn body(notice: &StoredNotice, delivery_id: &str) -> Vec<u8> {
    let payload = json!({
        "event": notice.event.as_str(),
        "delivery_id": delivery_id,
        "at": notice.at,
        "data": notice.data,
    });
    payload.to_string().into_bytes()
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts delivery `delivery_id` of `notice` to `url`; the failure, for the record.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &Secret,
    notice: &StoredNotice,
    delivery_id: &str,
) -> Result<(), String> {
    let body = body(notice, delivery_id);
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-tokengate-event", notice.event.as_str())
        .header("x-tokengate-delivery", delivery_id)
        .header("x-tokengate-signature", signature(secret, &body))
        .body(body)
        .send()
        .await
        .map_err(|error| describe(&error))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// A transport failure in a few words, without the URL (it may carry a key).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_githubs_form() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let signature = signature(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

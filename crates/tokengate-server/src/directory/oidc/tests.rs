//! The parts of the OIDC client that need no provider; the flow itself is tested against a
//! real provider in `tests/oidc.rs`.

use super::*;

fn pending() -> PendingLogin {
    PendingLogin {
        state: "state-value-xyz".into(),
        nonce: "nonce-value-xyz".into(),
        verifier: "verifier-value-xyz".into(),
        return_to: "/tokengate/tokens".into(),
        started_at: 1_700_000_000,
    }
}

#[test]
fn debug_of_a_pending_login_and_of_tokens_shows_no_value() {
    let tokens = Tokens {
        id_token: "eyJ.id-token-value.sig".into(),
        access_token: Secret::new("access-token-value"),
    };
    let printed = format!("{:?} {:#?} {tokens:?}", pending(), pending());
    for hidden in [
        "state-value",
        "nonce-value",
        "verifier-value",
        "id-token-value",
        "access-token-value",
    ] {
        assert!(!printed.contains(hidden), "{printed}");
    }
    assert!(printed.contains("/tokengate/tokens"), "{printed}");
}

#[test]
fn a_pending_login_survives_a_round_trip_through_json() {
    let text = serde_json::to_string(&pending()).expect("json");
    let back: PendingLogin = serde_json::from_str(&text).expect("back");
    assert_eq!(back, pending());
    assert_eq!(back.state(), "state-value-xyz");
    assert_eq!(back.return_to(), "/tokengate/tokens");
}

#[test]
fn only_paths_on_this_host_are_returned_to() {
    for good in ["/", "/tokengate/tokens?page=2", "/api/x#frag"] {
        assert_eq!(local_path(good), good);
    }
    for bad in [
        "",
        "https://evil.example.com/",
        "//evil.example.com/",
        "/\\evil.example.com",
        "/%0d%0a\r\nSet-Cookie: x",
        "/a\\b",
        "evil.example.com",
        "javascript:alert(1)",
        "\t/tokengate/",
    ] {
        assert_eq!(local_path(bad), "/tokengate/", "{bad:?}");
    }
    assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), "/tokengate/");
}

#[test]
fn a_payload_is_read_only_from_a_well_formed_token() {
    let claims = payload("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln").expect("claims");
    assert_eq!(claims["sub"], "1");
    for bad in ["", "one-part", "a.!!!.c", "a.bm90LWpzb24.c", "a.WzFd.c"] {
        assert!(matches!(payload(bad), Err(OidcError::Refused(_))), "{bad}");
    }
}

#[test]
fn an_authorized_party_other_than_this_client_is_refused() {
    let client = ClientId::new("tokengate".into());
    let claims = |azp: serde_json::Value| {
        let mut claims = Claims::new();
        claims.insert("sub".into(), "1".into());
        if !azp.is_null() {
            claims.insert("azp".into(), azp);
        }
        claims
    };
    assert_eq!(
        check_authorized_party(&claims(serde_json::Value::Null), &client),
        Ok(())
    );
    assert_eq!(
        check_authorized_party(&claims("tokengate".into()), &client),
        Ok(())
    );
    for other in [
        serde_json::json!("other-app"),
        serde_json::json!("Tokengate"),
        serde_json::json!(["tokengate"]),
        serde_json::json!(""),
    ] {
        assert!(
            matches!(
                check_authorized_party(&claims(other.clone()), &client),
                Err(OidcError::Refused(_))
            ),
            "{other}"
        );
    }
}

//! `PATCH /me`: a local user sets or clears their own e-mail address (audited `user.updated`
//! with themselves as actor); bad addresses and bodies change nothing; a directory user's
//! address is the directory's (409); a token cannot change it at all (403, so a leaked token
//! cannot redirect the owner's notices); a browser session needs its CSRF header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{API, Api, json_of};
use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokengate_core::groups::UserSource;
use tokengate_core::model::{AuditAction, AuditFilter};
use tokengate_core::restrictions::{Access, Restrictions};
use tokengate_core::store::DirectoryProfile;

async fn email_of(api: &Api, user: &str) -> Option<String> {
    api.app.store.user(user).await.unwrap().unwrap().email
}

async fn user_updates(api: &Api) -> Vec<tokengate_core::model::AuditRecord> {
    let filter = AuditFilter {
        action: Some(AuditAction::UserUpdated),
        limit: 100,
        ..AuditFilter::default()
    };
    api.app.store.audit(&filter).await.unwrap()
}

async fn patch_me(api: &Api, token: &str, body: Value) -> reqwest::Response {
    api.call(Method::PATCH, "/me", token, Some(body)).await
}

/// `PATCH /me` as alice with her password.
async fn alice_patches_me(api: &Api, body: Value) -> reqwest::Response {
    api.with_password("alice", Method::PATCH, "/me", Some(body))
        .await
}

#[tokio::test]
async fn a_local_user_sets_and_clears_their_own_email_and_it_is_audited() {
    let api = Api::start().await;
    let me = json_of(
        alice_patches_me(&api, json!({"email": "alice@example.com"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["user"]["name"], "alice");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["via"], "password");
    assert_eq!(
        email_of(&api, "alice").await.as_deref(),
        Some("alice@example.com")
    );
    let records = user_updates(&api).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor, "alice");
    assert_eq!(records[0].user.as_deref(), Some("alice"));
    assert_eq!(records[0].details["email"], "alice@example.com");

    let me = json_of(
        alice_patches_me(&api, json!({"email": null})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["user"]["email"], Value::Null);
    assert_eq!(email_of(&api, "alice").await, None);
    alice_patches_me(&api, json!({"email": "a@b.example"})).await;
    let cleared = alice_patches_me(&api, json!({"email": ""})).await;
    assert_eq!(cleared.status(), StatusCode::OK, "an empty string clears");
    assert_eq!(email_of(&api, "alice").await, None);
    let by_password = api
        .with_password(
            "alice",
            Method::PATCH,
            "/me",
            Some(json!({"email": "alice@corp.example"})),
        )
        .await;
    assert_eq!(by_password.status(), StatusCode::OK);
    assert_eq!(
        email_of(&api, "root").await,
        None,
        "only the caller changed"
    );
}

#[tokio::test]
async fn bad_addresses_and_bodies_are_refused_and_change_nothing() {
    let api = Api::start().await;
    alice_patches_me(&api, json!({"email": "alice@example.com"})).await;
    let audits = api.audit_count().await;
    let long = format!("{}@example.com", "a".repeat(250));
    for (body, status, code) in [
        (json!({"email": "alice"}), 422, "invalid_email"),
        (json!({"email": "@example.com"}), 422, "invalid_email"),
        (json!({"email": "alice@"}), 422, "invalid_email"),
        (json!({"email": "a b@example.com"}), 422, "invalid_email"),
        (json!({"email": " alice@example.com"}), 422, "invalid_email"),
        (json!({"email": "a@b@example.com"}), 422, "invalid_email"),
        (
            json!({"email": "alice@exa\nmple.com"}),
            422,
            "invalid_email",
        ),
        (json!({"email": "   "}), 422, "invalid_email"),
        (json!({"email": long}), 422, "invalid_email"),
        (json!({"email": 5}), 422, "invalid_body"),
        (json!({"email": ["a@b.c"]}), 422, "invalid_body"),
        (json!({}), 422, "invalid_body"),
        (
            json!({"email": "a@b.c", "admin": true}),
            422,
            "invalid_body",
        ),
        (json!({"name": "root"}), 422, "invalid_body"),
    ] {
        let answer = alice_patches_me(&api, body.clone()).await;
        common::error_body(answer, status, code).await;
    }
    let not_json = api
        .app
        .client
        .patch(api.app.url(&format!("{API}/me")))
        .basic_auth("alice", Some("alice-pw"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    common::error_body(not_json, 400, "invalid_json").await;
    assert_eq!(
        email_of(&api, "alice").await.as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(api.audit_count().await, audits, "nothing audited");
    assert!(!api.app.store.user("alice").await.unwrap().unwrap().admin);
}

#[tokio::test]
async fn a_directory_users_email_is_the_directorys() {
    let api = Api::start().await;
    for (name, source) in [("dora", UserSource::Ldap), ("olga", UserSource::Oidc)] {
        let profile = DirectoryProfile {
            name: name.into(),
            display_name: name.into(),
            email: Some(format!("{name}@directory.example")),
            source,
            groups: Vec::new(),
            admin: false,
        };
        let changed = tokengate_core::manage::provision(
            api.app.store.as_ref(),
            &common::change(Utc::now()),
            &profile,
        )
        .await
        .unwrap();
        assert_eq!(changed.value.source, source);
        let (_, token) = api.app.add_token(name).await;
        let audits = api.audit_count().await;
        for body in [
            json!({"email": "mine@example.com"}),
            json!({"email": null}),
            json!({"email": ""}),
        ] {
            let refused = patch_me(&api, &token, body).await;
            let error = common::error_body(refused, 409, "directory_managed").await;
            let message = error["message"].as_str().unwrap();
            assert!(message.contains(source.as_str()), "{message}");
        }
        assert_eq!(
            email_of(&api, name).await,
            Some(format!("{name}@directory.example"))
        );
        assert_eq!(api.audit_count().await, audits);
    }
}

#[tokio::test]
async fn tokens_cannot_change_the_address_and_unauthenticated_calls_are_refused() {
    let api = Api::start().await;
    let read_only = Restrictions {
        access: Access::Read,
        ..Restrictions::default()
    };
    let other_route = Restrictions {
        routes: vec!["default".into()],
        ..Restrictions::default()
    };
    let other_path = Restrictions {
        paths: vec!["/tokengate/api/v1/tokens".into()],
        ..Restrictions::default()
    };
    for restrictions in [read_only, other_route, other_path] {
        let (_, token) = api.app.add_restricted_token("alice", &restrictions).await;
        let refused = patch_me(&api, &token, json!({"email": "x@example.com"})).await;
        common::error_body(refused, 403, "token_scope_denied").await;
    }
    // A token that reaches /me, restricted to it or not at all, still cannot change it.
    let own_path = Restrictions {
        paths: vec!["/tokengate/api/v1/me".into()],
        ..Restrictions::default()
    };
    let (_, token) = api.app.add_restricted_token("alice", &own_path).await;
    for token in [token, api.alice_token.clone()] {
        let refused = patch_me(&api, &token, json!({"email": "evil@example.com"})).await;
        common::error_body(refused, 403, "token_exceeds_caller").await;
        let reads = api.call(Method::GET, "/me", &token, None).await;
        assert_eq!(reads.status(), StatusCode::OK, "reading is fine");
    }
    let allowed = alice_patches_me(&api, json!({"email": "ok@example.com"})).await;
    assert_eq!(allowed.status(), StatusCode::OK);
    let anonymous = api
        .app
        .client
        .patch(api.app.url(&format!("{API}/me")))
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    common::error_body(anonymous, 401, "missing_credentials").await;
    let wrong = patch_me(
        &api,
        "tg_not_a_real_token",
        json!({"email": "x@example.com"}),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        email_of(&api, "alice").await.as_deref(),
        Some("ok@example.com")
    );
}

#[tokio::test]
async fn a_browser_session_needs_its_csrf_header_to_change_the_email() {
    let api = Api::start().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(api.app.url("/tokengate/login"))
        .header("origin", &api.app.base)
        .form(&[("username", "alice"), ("password", "alice-pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let url = api.app.url(&format!("{API}/me"));
    let body = json!({"email": "x@example.com"});
    let without = client.patch(&url).json(&body).send().await.unwrap();
    common::error_body(without, 403, "csrf_failed").await;
    let wrong = client
        .patch(&url)
        .header("x-csrf-token", "not-the-token")
        .json(&body)
        .send()
        .await
        .unwrap();
    common::error_body(wrong, 403, "csrf_failed").await;
    assert_eq!(email_of(&api, "alice").await, None);
    let page = client
        .get(api.app.url("/tokengate/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let with = client
        .patch(&url)
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let me = json_of(with, StatusCode::OK).await;
    assert_eq!(me["via"], "session");
    assert_eq!(
        email_of(&api, "alice").await.as_deref(),
        Some("x@example.com")
    );
}

#[tokio::test]
async fn the_openapi_document_describes_patch_me_and_its_refusals() {
    let api = Api::start().await;
    let served = api.openapi().await;
    let patch = &served["paths"]["/me"]["patch"];
    assert_eq!(
        patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/UpdateMe"
    );
    for status in ["200", "401", "403", "409", "422"] {
        assert!(patch["responses"].get(status).is_some(), "{status}");
    }
    assert!(served["components"]["schemas"]["UpdateMe"]["properties"]["email"].is_object());
}

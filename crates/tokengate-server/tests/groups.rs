//! Groups and the three permissions (SPEC §1, §10) over the REST API and through the gateway:
//! local groups managed and audited, directory groups read-only, `use_tokens`,
//! `create_own_tokens` and `create_tokens_for_others` enforced, and the user's groups and
//! e-mail reaching the upstream — never a client's copy of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_support;
mod common;

use api_support::{Api, json_of};
use chrono::Utc;
use common::{TestApp, change, error_body, test_config};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokengate_core::groups::UserSource;
use tokengate_core::manage;
use tokengate_core::model::{AuditAction, AuditFilter};
use tokengate_core::store::DirectoryProfile;

async fn audited(api: &Api, action: AuditAction) -> usize {
    let filter = AuditFilter {
        action: Some(action),
        limit: 100,
        ..AuditFilter::default()
    };
    api.app.store.audit(&filter).await.unwrap().len()
}

async fn put_permissions(api: &Api, permissions: Value) -> reqwest::Response {
    let settings = json!({
        "max_validity": "never", "ip_allowlist": [], "password_auth": "enabled",
        "admins_only": false, "permissions": permissions,
    });
    api.admin(Method::PUT, "/admin/settings", Some(settings))
        .await
}

/// A user `carol` as the LDAP directory reports her, in the directory group `ldap-devs`.
async fn provision_carol(app: &TestApp) {
    let profile = DirectoryProfile {
        name: "carol".into(),
        display_name: "Carol".into(),
        email: Some("carol@example.com".into()),
        source: UserSource::Ldap,
        groups: vec!["ldap-devs".into()],
        admin: false,
    };
    let provisioned = manage::provision(app.store.as_ref(), &change(Utc::now()), &profile)
        .await
        .unwrap();
    assert_eq!(provisioned.value.source, UserSource::Ldap);
}

#[tokio::test]
async fn local_groups_are_created_changed_listed_and_deleted_with_audit_records() {
    let api = Api::start().await;
    let created = json_of(
        api.admin(
            Method::POST,
            "/admin/groups",
            Some(json!({"name": "api users", "members": ["alice"]})),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        created,
        json!({"name": "api users", "source": "local", "members": ["alice"]})
    );
    let changed = json_of(
        api.admin(
            Method::PATCH,
            "/admin/groups/api%20users",
            Some(json!({"add": ["root"], "remove": ["alice"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["members"], json!(["root"]));
    let exact = json_of(
        api.admin(
            Method::PATCH,
            "/admin/groups/api%20users",
            Some(json!({"members": ["alice", "root"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(exact["members"], json!(["alice", "root"]));
    let me = json_of(api.alice(Method::GET, "/me", None).await, StatusCode::OK).await;
    assert_eq!(me["user"]["groups"], json!(["api users"]));
    let listed = json_of(
        api.admin(Method::GET, "/admin/groups", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let deleted = api
        .admin(Method::DELETE, "/admin/groups/api%20users", None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let me = json_of(api.alice(Method::GET, "/me", None).await, StatusCode::OK).await;
    assert_eq!(me["user"]["groups"], json!([]));
    assert_eq!(audited(&api, AuditAction::GroupCreated).await, 1);
    assert_eq!(audited(&api, AuditAction::GroupChanged).await, 2);
    assert_eq!(audited(&api, AuditAction::GroupDeleted).await, 1);
    error_body(
        api.alice(Method::POST, "/admin/groups", Some(json!({"name": "mine"})))
            .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn bad_group_input_is_refused_clearly_and_changes_nothing() {
    let api = Api::start().await;
    let before = api.audit_count().await;
    for (body, status, code) in [
        (json!({"name": "a,b"}), 422, "invalid_group"),
        (json!({"name": ""}), 422, "invalid_group"),
        (json!({"name": "x".repeat(129)}), 422, "invalid_group"),
        (
            json!({"name": "ok", "members": ["ghost"]}),
            404,
            "not_found",
        ),
        (
            json!({"name": "ok", "members": ["bad name"]}),
            422,
            "invalid_user_name",
        ),
        (json!({"name": "ok", "extra": 1}), 422, "invalid_body"),
    ] {
        let response = api
            .admin(Method::POST, "/admin/groups", Some(body.clone()))
            .await;
        error_body(response, status, code).await;
    }
    api.admin(Method::POST, "/admin/groups", Some(json!({"name": "ok"})))
        .await;
    let both = json!({"members": ["alice"], "add": ["root"]});
    error_body(
        api.admin(Method::PATCH, "/admin/groups/ok", Some(both))
            .await,
        422,
        "invalid_body",
    )
    .await;
    error_body(
        api.admin(
            Method::PATCH,
            "/admin/groups/ok",
            Some(json!({"add": ["ghost"]})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    error_body(
        api.admin(Method::DELETE, "/admin/groups/missing", None)
            .await,
        404,
        "not_found",
    )
    .await;
    let group = api.app.store.group("ok").await.unwrap().unwrap();
    assert!(group.members.is_empty(), "nothing half-done");
    assert_eq!(api.audit_count().await, before + 1, "only the one creation");
}

#[tokio::test]
async fn directory_groups_are_listed_but_read_only() {
    let api = Api::start().await;
    provision_carol(&api.app).await;
    let listed = json_of(
        api.admin(Method::GET, "/admin/groups", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed,
        json!([{"name": "ldap-devs", "source": "ldap", "members": ["carol"]}])
    );
    error_body(
        api.admin(
            Method::PATCH,
            "/admin/groups/ldap-devs",
            Some(json!({"add": ["alice"]})),
        )
        .await,
        409,
        "directory_managed",
    )
    .await;
    error_body(
        api.admin(Method::DELETE, "/admin/groups/ldap-devs", None)
            .await,
        409,
        "directory_managed",
    )
    .await;
    error_body(
        api.admin(
            Method::PATCH,
            "/admin/users/carol",
            Some(json!({"email": "other@example.com"})),
        )
        .await,
        409,
        "directory_managed",
    )
    .await;
    let disabled = json_of(
        api.admin(
            Method::PATCH,
            "/admin/users/carol",
            Some(json!({"disabled": true})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        disabled["disabled"],
        json!(true),
        "disabling stays tokengate's"
    );
    assert_eq!(disabled["source"], json!("ldap"));
    assert_eq!(disabled["groups"], json!(["ldap-devs"]));
}

#[tokio::test]
async fn users_get_e_mail_addresses_and_local_groups_and_bad_ones_change_nothing() {
    let api = Api::start().await;
    api.admin(Method::POST, "/admin/groups", Some(json!({"name": "devs"})))
        .await;
    let updated = json_of(
        api.admin(
            Method::PATCH,
            "/admin/users/alice",
            Some(json!({"email": "alice@example.com", "groups": ["devs"]})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["email"], json!("alice@example.com"));
    assert_eq!(updated["groups"], json!(["devs"]));
    assert_eq!(updated["source"], json!("local"));
    for body in [
        json!({"email": "not an address"}),
        json!({"email": "a@b", "groups": ["nope"]}),
        json!({"display_name": "Alice", "groups": ["devs", "a,b"]}),
    ] {
        let response = api
            .admin(Method::PATCH, "/admin/users/alice", Some(body))
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let alice = api.app.store.user("alice").await.unwrap().unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert_eq!(
        alice.display_name, "alice",
        "a refused change changes nothing"
    );
    assert_eq!(alice.groups, ["devs"]);
    let cleared = json_of(
        api.admin(
            Method::PATCH,
            "/admin/users/alice",
            Some(json!({"email": null})),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared["email"], Value::Null);
}

#[tokio::test]
async fn losing_use_tokens_makes_tokens_answer_tokens_not_permitted_and_keeps_them() {
    let api = Api::start().await;
    let permissions = json!({"use_tokens": ["api-users"], "create_own_tokens": ["*"], "create_tokens_for_others": []});
    json_of(put_permissions(&api, permissions).await, StatusCode::OK).await;
    error_body(
        api.app
            .get_bearer("/tokengate/whoami", &api.alice_token)
            .await,
        403,
        "tokens_not_permitted",
    )
    .await;
    let admin = api
        .app
        .get_bearer("/tokengate/whoami", &api.admin_token)
        .await;
    assert_eq!(
        admin.status(),
        StatusCode::OK,
        "admins hold every permission"
    );
    let password = api
        .app
        .get_basic("/tokengate/whoami", "alice", "alice-pw")
        .await;
    assert_eq!(
        password.status(),
        StatusCode::OK,
        "passwords are not tokens"
    );
    assert_eq!(api.token_count().await, 2, "tokens are kept");
    api.admin(
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "api-users", "members": ["alice"]})),
    )
    .await;
    let back = api
        .app
        .get_bearer("/tokengate/whoami", &api.alice_token)
        .await;
    assert_eq!(
        back.status(),
        StatusCode::OK,
        "membership restores it at once"
    );
    let failed = api
        .app
        .store
        .user("alice")
        .await
        .unwrap()
        .unwrap()
        .failed_logins;
    assert_eq!(failed, 0, "a permission refusal is not a failed login");
}

#[tokio::test]
async fn losing_create_own_tokens_refuses_a_create_but_the_token_still_works() {
    let api = Api::start().await;
    let permissions = json!({"use_tokens": ["*"], "create_own_tokens": ["leads"], "create_tokens_for_others": []});
    json_of(put_permissions(&api, permissions).await, StatusCode::OK).await;
    let me = json_of(api.alice(Method::GET, "/me", None).await, StatusCode::OK).await;
    assert_eq!(
        me["permissions"],
        json!({"admin": false, "use_tokens": true, "create_own_tokens": false, "create_tokens_for_others": false})
    );
    let before = api.token_count().await;
    error_body(
        api.alice(Method::POST, "/tokens", Some(json!({"name": "more"})))
            .await,
        403,
        "tokens_not_permitted",
    )
    .await;
    assert_eq!(api.token_count().await, before);
    let used = api
        .app
        .get_bearer("/tokengate/whoami", &api.alice_token)
        .await;
    assert_eq!(used.status(), StatusCode::OK);
    let settings = json_of(
        api.admin(Method::GET, "/admin/settings", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        settings["permissions"]["create_own_tokens"],
        json!(["leads"])
    );
}

#[tokio::test]
async fn a_holder_of_create_tokens_for_others_creates_tokens_for_someone_else_and_others_cannot() {
    let api = Api::start().await;
    api.app.add_user("bob", "bob-pw", false).await;
    let body = json!({"name": "for bob"});
    error_body(
        api.with_password(
            "alice",
            Method::POST,
            "/admin/users/bob/tokens",
            Some(body.clone()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    api.admin(
        Method::POST,
        "/admin/groups",
        Some(json!({"name": "service desk", "members": ["alice"]})),
    )
    .await;
    let permissions = json!({"use_tokens": ["*"], "create_own_tokens": ["*"], "create_tokens_for_others": ["service desk"]});
    json_of(put_permissions(&api, permissions).await, StatusCode::OK).await;
    let created = json_of(
        api.with_password("alice", Method::POST, "/admin/users/bob/tokens", Some(body))
            .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["owner"], json!("bob"));
    assert_eq!(created["created_by"], json!("alice"));
    let secret = created["token"].as_str().unwrap();
    let whoami = json_of(
        api.app.get_bearer("/tokengate/whoami", secret).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(whoami["user"], json!("bob"));
    error_body(
        api.alice(Method::GET, "/admin/tokens", None).await,
        403,
        "forbidden",
    )
    .await;
    let before = api.token_count().await;
    let for_admin = api
        .with_password(
            "alice",
            Method::POST,
            "/admin/users/root/tokens",
            Some(json!({"name": "root's"})),
        )
        .await;
    let refused = error_body(for_admin, 403, "forbidden").await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("administrator"),
        "{refused}"
    );
    assert_eq!(api.token_count().await, before, "no token for an admin");
}

#[tokio::test]
async fn settings_without_permissions_keep_them_and_bad_group_names_are_refused() {
    let api = Api::start().await;
    let permissions =
        json!({"use_tokens": ["a"], "create_own_tokens": ["*"], "create_tokens_for_others": ["b"]});
    json_of(
        put_permissions(&api, permissions.clone()).await,
        StatusCode::OK,
    )
    .await;
    let without = json!({"max_validity": "1y", "ip_allowlist": [], "password_auth": "enabled", "admins_only": false});
    let saved = json_of(
        api.admin(Method::PUT, "/admin/settings", Some(without))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["permissions"], permissions);
    for bad in [
        json!({"use_tokens": ["a,b"], "create_own_tokens": [], "create_tokens_for_others": []}),
        json!({"use_tokens": [], "create_own_tokens": []}),
        json!({"use_tokens": "*", "create_own_tokens": [], "create_tokens_for_others": []}),
    ] {
        let response = put_permissions(&api, bad).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let stored = api.app.store.settings().await.unwrap();
    assert_eq!(stored.permissions.use_tokens.names(), ["a"]);
}

#[tokio::test]
async fn groups_and_e_mail_reach_the_upstream_and_client_copies_never_do() {
    let app = TestApp::spawn_with(test_config(), true).await;
    provision_carol(&app).await;
    let (_, token) = app.add_token("carol").await;
    app.add_user("dave", "dave-pw", false).await;
    let (_, dave_token) = app.add_token("dave").await;
    let spoofed = [
        ("X-Authenticated-Groups", "tokengate-admins"),
        ("x_authenticated_groups", "tokengate-admins"),
        ("X-Authenticated-Email", "boss@example.com"),
        ("x_Authenticated_EMAIL", "boss@example.com"),
    ];
    for (secret, groups, email) in [
        (&token, Some("ldap-devs"), Some("carol@example.com")),
        (&dave_token, None, None),
    ] {
        let mut request = app.client.get(app.url("/echo")).bearer_auth(secret);
        for (name, value) in spoofed {
            request = request.header(name, value);
        }
        let echoed: Value = request.send().await.unwrap().json().await.unwrap();
        let headers = &echoed["headers"];
        assert_eq!(
            headers["x-authenticated-groups"],
            groups.map_or(Value::Null, |groups| json!([groups]))
        );
        assert_eq!(
            headers["x-authenticated-email"],
            email.map_or(Value::Null, |email| json!([email]))
        );
        for name in ["x_authenticated_groups", "x_authenticated_email"] {
            assert!(headers[name].is_null(), "{name} reached the upstream");
        }
    }
}

#[tokio::test]
async fn forward_auth_answers_carry_the_groups_and_e_mail() {
    let app = TestApp::spawn_with(test_config(), false).await;
    provision_carol(&app).await;
    let (_, token) = app.add_token("carol").await;
    let answer = app.get_bearer("/tokengate/auth", &token).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header("x-authenticated-groups").as_deref(),
        Some("ldap-devs")
    );
    assert_eq!(
        header("x-authenticated-email").as_deref(),
        Some("carol@example.com")
    );
}

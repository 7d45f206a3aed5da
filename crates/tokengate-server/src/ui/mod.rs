//! The web UI: server-rendered pages for a person's API tokens and the admin
//! console. Works without JavaScript; forms are POSTs carrying the session's CSRF token and are
//! refused when cross-site; every answer carries the security headers of `layout`. All changes
//! go through `tokengate_core::manage`; this module only checks the visitor, renders and maps.
//! Design notes: docs/design/web-ui.md.

mod account;
mod admin_audit;
mod admin_groups;
mod admin_notifications;
mod admin_revoke_before;
mod admin_settings;
mod admin_tokens;
mod admin_users;
mod charts;
mod context;
mod forms;
mod layout;
mod login;
mod oidc;
mod restrictions;
mod token_changes;
mod tokens;
mod usage_pages;

use crate::state::SharedState;
use axum::Router;
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

pub use context::is_same_origin;
pub use layout::CONTENT_SECURITY_POLICY;

/// The UI's routes, relative to `/tokengate` (merged into the router nested there).
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(tokens::to_home))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", get(login::sign_out_page).post(login::sign_out))
        .route("/oidc/login", get(oidc::login))
        .route("/oidc/callback", get(oidc::callback))
        .route("/tokens", get(tokens::to_home).post(tokens::create))
        .route("/tokens/{id}/rename", post(tokens::rename))
        .route("/tokens/{id}/delete", post(tokens::delete))
        .route("/tokens/delete-all", post(tokens::delete_all))
        .route("/tokens/{id}/rotate", post(token_changes::rotate))
        .route("/tokens/{id}/usage", get(usage_pages::token_page))
        .route(
            "/tokens/{id}/restrictions",
            get(token_changes::own_page).post(token_changes::own_save),
        )
        .route("/account/email", post(account::set_email))
        .merge(admin_router())
        .route("/static/app.css", get(layout::stylesheet))
        .route("/static/app.js", get(layout::script))
        .layer(map_response(layout::security_headers))
}

fn admin_router() -> Router<SharedState> {
    Router::new()
        .route(
            "/admin",
            get(|| async { Redirect::to("/tokengate/admin/settings").into_response() }),
        )
        .route(
            "/admin/settings",
            get(admin_settings::page).post(admin_settings::save),
        )
        .route("/admin/settings/clamp", post(admin_settings::clamp))
        .route(
            "/admin/tokens",
            get(admin_tokens::page).post(admin_tokens::create),
        )
        .route("/admin/tokens/{id}/delete", post(admin_tokens::revoke))
        .route("/admin/tokens/revoke-user", post(admin_tokens::revoke_user))
        .route(
            "/admin/tokens/revoke-before",
            post(admin_revoke_before::revoke_before),
        )
        .route(
            "/admin/tokens/{id}/restrictions",
            get(token_changes::admin_page).post(token_changes::admin_save),
        )
        .route(
            "/admin/users",
            get(admin_users::page).post(admin_users::create),
        )
        .route("/admin/users/{name}", post(admin_users::update))
        .route(
            "/admin/users/{name}/password",
            post(admin_users::set_password),
        )
        .route(
            "/admin/users/{name}/reset-failed-logins",
            post(admin_users::reset_failed_logins),
        )
        .route("/admin/users/{name}/email", post(admin_users::set_email))
        .route("/admin/users/{name}/groups", post(admin_users::set_groups))
        .route(
            "/admin/groups",
            get(admin_groups::page).post(admin_groups::create),
        )
        .route("/admin/groups/members", post(admin_groups::change_members))
        .route("/admin/groups/delete", post(admin_groups::delete))
        .route("/admin/audit", get(admin_audit::page))
        .route("/admin/usage", get(usage_pages::admin_page))
        .route("/admin/notifications", get(admin_notifications::page))
        .route(
            "/admin/notifications/{id}/retry",
            post(admin_notifications::retry),
        )
}

/// `GET /tokengate/` itself. A router nested at `/tokengate` cannot route the path with the
/// trailing slash (axum maps a nested `/` to `/tokengate` only), so this one is merged at the
/// top level.
pub fn home_router() -> Router<SharedState> {
    Router::new()
        .route("/tokengate/", get(tokens::page))
        .layer(map_response(layout::security_headers))
}

//! What every UI page shares: the security headers added to each response, the stylesheet and
//! script, the navigation bar, page rendering, and the HTML error page. Nothing here decides
//! who may do what; handlers do, through `super::context`.

use crate::session::SessionUser;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use tokengate_core::manage::{ManageError, may_create_for_others};
use tokengate_core::model::Settings;
use tokengate_core::secret::Redacted;

/// `default-src 'self'` and nothing inline: pages load only the stylesheet and script below.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

/// Adds the UI's security headers to a response; pages get `Cache-Control: no-store` unless the
/// handler chose a caching policy itself (only the static files do).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        // `same-origin`, not `no-referrer`: with `no-referrer` browsers send `Origin: null` on
        // same-origin form posts, which the cross-site check would then refuse.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `GET /tokengate/static/app.css`.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `GET /tokengate/static/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The navigation bar of a signed-in user. `csrf` is the session's CSRF token as the pages'
/// forms carry it (this is where it leaves its `Secret`); `Debug` leaves it out.
#[derive(Clone)]
pub struct Nav {
    pub user: String,
    pub admin: bool,
    pub tokens_permitted: bool,
    /// Not an admin, but holds `create_tokens_for_others`: the token manager's create form.
    pub delegate: bool,
    pub csrf: String,
    pub current: &'static str,
}

impl Nav {
    pub fn new(session: &SessionUser, settings: &Settings, current: &'static str) -> Self {
        let admin = session.user.admin && !session.user.disabled;
        Self {
            user: session.user.name.clone(),
            admin,
            tokens_permitted: settings.permits_tokens(&session.user),
            delegate: !admin && may_create_for_others(settings, &session.user),
            csrf: session.csrf_token.expose().to_owned(),
            current,
        }
    }

    /// Whether `page` is the page being shown (for `aria-current`).
    pub fn is(&self, page: &str) -> bool {
        self.current == page
    }
}

impl std::fmt::Debug for Nav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nav")
            .field("user", &self.user)
            .field("admin", &self.admin)
            .field("tokens_permitted", &self.tokens_permitted)
            .field("delegate", &self.delegate)
            .field("csrf", &Redacted)
            .field("current", &self.current)
            .finish()
    }
}

/// Renders a page; a template failure is logged and becomes the 500 page.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response(),
        Err(error) => UiError::internal(&error).into_response(),
    }
}

/// The answer to a form whose fields could not be read (missing, wrong type, not a form).
pub fn incomplete_form(_: FormRejection) -> UiError {
    UiError::bad_request("The form was incomplete. Reload the page and try again.")
}

/// A `303 See Other` to a page of the UI (after a successful form).
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The confirmation step of a destructive form when the browser ran no script (with script,
/// the form asks first and skips this page).
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub nav: Option<Nav>,
    pub title: &'static str,
    pub message: String,
    pub action: String,
    pub fields: Vec<(&'static str, String)>,
    pub button: &'static str,
    pub cancel: &'static str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<&'a Nav>,
    title: &'a str,
    message: &'a str,
    request_id: String,
}

/// An answer that is an HTML error page: 403 for the forbidden, 404, 429, 503, 500.
#[derive(Debug, Clone)]
pub struct UiError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub nav: Option<Nav>,
}

impl UiError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            nav: None,
        }
    }

    pub fn with_nav(mut self, nav: Nav) -> Self {
        self.nav = Some(nav);
        self
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or it no longer exists.",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "tokengate cannot reach its database right now. Nothing was changed; please try again shortly.",
        )
    }

    /// A 500 whose cause goes to the log (with the request id), never to the page.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(request_id = %crate::request_id::current_request_id(), %cause, "web UI internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "An internal error occurred. Nothing was changed.",
        )
    }

    /// The page for a refused management operation that has no form to show it in.
    pub fn from_manage(error: ManageError) -> Self {
        match error {
            ManageError::NotFound(_) => Self::not_found(),
            ManageError::TokensNotPermitted => Self::forbidden(error.to_string()),
            ManageError::Unavailable(_) => Self::unavailable(),
            ManageError::Random => Self::internal(&error),
            other => Self::bad_request(other.to_string()),
        }
    }
}

impl From<crate::error::ApiError> for UiError {
    fn from(error: crate::error::ApiError) -> Self {
        if error.status == StatusCode::SERVICE_UNAVAILABLE {
            Self::unavailable()
        } else {
            Self::new(error.status, "Something went wrong", error.message)
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            nav: self.nav.as_ref(),
            title: self.title,
            message: &self.message,
            request_id: crate::request_id::current_request_id(),
        };
        match page.render() {
            Ok(html) => (
                self.status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(error) => {
                tracing::error!(%error, "the error page does not render");
                (self.status, self.message).into_response()
            }
        }
    }
}

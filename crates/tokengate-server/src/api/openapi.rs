//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa): paths, schemas,
//! the three ways to authenticate, and who may call each operation.

use crate::state::SharedState;
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

/// The error body of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable error code, e.g. `invalid_credentials`.
    pub error: String,
    /// A human sentence.
    pub message: String,
    /// The request id, also in `X-Request-Id`.
    pub request_id: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tokengate REST API",
        description = "Manage personal API tokens, users and tokengate's system-wide settings. \
Authenticate with HTTP Basic (user name and password, or user name and token), Bearer (a token), \
or the web UI's session cookie plus its X-CSRF-Token header. The IP allow-list, the password \
switch and admins-only apply to the API as to every protected request. Errors have the shape \
{\"error\", \"message\", \"request_id\"}.",
        license(name = "Apache-2.0")
    ),
    servers((url = "/tokengate/api/v1")),
    modifiers(&SecuritySchemes),
    security(("basic" = []), ("bearer" = []), ("session" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "self", description = "The caller"),
        (name = "tokens", description = "The caller's own tokens"),
        (name = "admin", description = "Administration: admins only"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tg_ token")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE_NAME,
                "Web UI session; state-changing calls also need the X-CSRF-Token header",
            ))),
        );
    }
}

/// Answers any operation may give besides its own: bad query or body, authentication and the
/// SPEC §2 refusals, oversize bodies, the failure throttle, the store being down.
struct CommonErrors;

const COMMON_ERRORS: [(&str, &str); 9] = [
    ("400", "invalid_query: the query string is not valid"),
    (
        "401",
        "missing_credentials, malformed_credentials, invalid_credentials, token_expired",
    ),
    (
        "403",
        "ip_not_allowed, user_disabled, tokens_not_permitted, password_auth_disabled, user_locked, forbidden, csrf_failed",
    ),
    ("404", "not_found"),
    ("413", "body_too_large"),
    (
        "415",
        "unsupported_media_type: the body must be application/json",
    ),
    (
        "422",
        "invalid_body: unknown fields, wrong types, duplicate keys",
    ),
    (
        "429",
        "too_many_failures: this address failed too often; see Retry-After",
    ),
    ("503", "unavailable: the store cannot be reached"),
];

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in COMMON_ERRORS {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            let content = ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build();
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/json", content)
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// The API routes together with the document describing them.
pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(super::api_routes())
}

/// The API router and its finished document.
pub fn split() -> (axum::Router<SharedState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes().split_for_parts();
    CommonErrors.modify(&mut document);
    (router, document)
}

/// The document alone (for the committed copy in docs/openapi.json).
pub fn document() -> utoipa::openapi::OpenApi {
    split().1
}

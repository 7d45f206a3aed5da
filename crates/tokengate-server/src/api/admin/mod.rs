//! Admin endpoints (`/admin/...`): reachable only with an [`super::caller::AdminCaller`], i.e. an
//! enabled admin user. Every change carries the admin as actor into its audit record.

mod audit;
pub(crate) mod dry_run;
mod groups;
pub(crate) mod settings;
mod tokens;
mod users;

use crate::state::SharedState;
use utoipa_axum::router::OpenApiRouter;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .merge(tokens::routes())
        .merge(users::routes())
        .merge(settings::routes())
        .merge(audit::routes())
        .merge(groups::routes())
        .merge(dry_run::routes())
}

/// A page size from a query: default 100, at most 1000.
pub(crate) fn page_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(100).clamp(1, 1000)
}

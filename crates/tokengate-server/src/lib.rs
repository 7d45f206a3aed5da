//! tokengate's server: the gateway (reverse proxy and forward-auth), the REST API, metrics,
//! configuration and start-up wiring. HTTP lives here; the rules live in `tokengate-core`.

pub mod access_log;
pub mod api;
pub mod attempts;
pub mod auth_events;
pub mod cache;
pub mod config;
pub mod directory;
pub mod effects;
pub mod entrance;
pub mod error;
pub mod gateway;
pub mod lanes;
pub mod metrics;
pub mod notify;
pub mod passwords;
pub mod request_id;
pub mod retention;
pub mod routes;
pub mod serve;
pub mod session;
pub mod sockets;
pub mod state;
pub mod syslog;
pub mod throttle;
pub mod tls;
pub mod transport;
pub mod ui;
pub mod usage;
pub mod usage_counts;
pub mod watch;
pub mod worker;

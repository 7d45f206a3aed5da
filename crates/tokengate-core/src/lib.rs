//! tokengate's domain: the token format, validity rules, the IP allow-list, the SPEC §2
//! decision, the records and the storage traits. Pure: no async runtime, no HTTP, no SQL.

pub mod allowlist;
pub mod audit;
pub mod auth_events;
pub mod authenticate;
pub mod chain;
pub mod credentials;
pub mod decision;
pub mod dry_run;
pub mod groups;
pub mod lockout;
pub mod manage;
pub mod model;
pub mod notices;
pub mod password;
pub mod path;
pub mod restrictions;
pub mod secret;
pub mod store;
pub mod token;
pub mod usage;
pub mod validity;

pub use decision::{Decision, Reason, Via};
pub use model::{Settings, TokenRecord, User};
pub use secret::Secret;

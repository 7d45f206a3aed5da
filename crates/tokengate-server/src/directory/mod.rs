//! Directories users come from besides tokengate's own database (SPEC §10).

pub mod oidc;

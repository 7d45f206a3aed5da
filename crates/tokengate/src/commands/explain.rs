//! `tokengate explain`: runs the SPEC §2 decision for a would-be request (Basic credentials
//! for a user, from an address) against the stored settings and records, and prints every
//! step. Applies none of the decision's effects (no failed-login count, no last use) and never
//! prints the secret.

use super::{CommandError, read_secret_line};
use crate::cli::ExplainArgs;
use crate::output::{print_json, print_line};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokengate_core::authenticate::{InlinePasswordCheck, StoreLookup, authenticate};
use tokengate_core::decision::{Decision, RequestFacts};
use tokengate_core::secret::Secret;
use tokengate_core::store::Store;
use tokengate_server::config::Config;

/// The `--json` answer; the same shape as the REST API's explain answer.
#[derive(Debug, Serialize)]
struct Explanation {
    allowed: bool,
    status: u16,
    reason: Option<&'static str>,
    /// The authenticated user (null when denied or anonymous).
    user: Option<String>,
    via: Option<&'static str>,
    /// The client address the decision used.
    client: String,
    steps: Vec<String>,
}

impl From<&Decision> for Explanation {
    fn from(decision: &Decision) -> Self {
        let identity = decision.identity();
        Self {
            allowed: decision.is_allowed(),
            status: decision.status(),
            reason: decision.reason().map(|reason| reason.code()),
            user: identity.and_then(|identity| identity.user.clone()),
            via: identity.map(|identity| identity.via.as_str()),
            client: decision.client.to_string(),
            steps: decision.steps.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `Basic base64(user:secret)`, built inside `Secret`s so the copies are wiped after use.
fn basic_authorization(user: &str, secret: &Secret) -> Secret {
    let credentials = Secret::new(format!("{user}:{}", secret.expose()));
    let encoded_len = credentials.len().div_ceil(3) * 4;
    let mut header = String::with_capacity("Basic ".len() + encoded_len);
    header.push_str("Basic ");
    STANDARD.encode_string(credentials.expose(), &mut header);
    Secret::new(header)
}

/// Prints the decision; `Err(Denied)` when the request would be denied (exit 1).
pub async fn run(
    store: &dyn Store,
    config: &Config,
    args: ExplainArgs,
    now: DateTime<Utc>,
) -> Result<(), CommandError> {
    let authorization = if args.secret_stdin {
        let secret = read_secret_line()?;
        Some(basic_authorization(&args.user, &secret))
    } else {
        None
    };
    let facts = RequestFacts {
        reach: Default::default(),
        peer: args.ip,
        forwarded_for: None,
        authorization: authorization
            .as_ref()
            .map(|header| header.expose().as_bytes()),
    };
    let settings = store.settings().await?;
    let decision = authenticate(
        &facts,
        &settings,
        &config.gate_policy(),
        &StoreLookup(store),
        &InlinePasswordCheck,
        now,
    )
    .await;
    // `decision.effects` are deliberately dropped: explaining changes nothing.
    let explanation = Explanation::from(&decision);
    if args.json {
        print_json(&explanation)?;
    } else {
        print_human(&explanation)?;
    }
    match explanation.reason {
        None => Ok(()),
        Some(reason) => Err(CommandError::Denied(format!(
            "{reason} ({})",
            explanation.status
        ))),
    }
}

fn print_human(explanation: &Explanation) -> Result<(), CommandError> {
    let verdict = match explanation.reason {
        None => "allowed".to_owned(),
        Some(reason) => format!("denied: {reason} ({})", explanation.status),
    };
    print_line(&verdict)?;
    print_line(&format!(
        "user: {}",
        explanation.user.as_deref().unwrap_or("-")
    ))?;
    print_line(&format!("via: {}", explanation.via.unwrap_or("-")))?;
    print_line("steps:")?;
    for step in &explanation.steps {
        print_line(&format!("  - {step}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokengate_core::credentials::{Credentials, parse_authorization};

    #[test]
    fn basic_authorization_round_trips_through_the_one_parser() {
        let header = basic_authorization("alice", &Secret::new("pa:ss word"));
        let parsed = parse_authorization(header.expose().as_bytes());
        assert!(
            matches!(&parsed, Ok(Credentials::Basic { user, secret })
                if user == "alice" && secret.expose() == "pa:ss word"),
            "{parsed:?}"
        );
    }
}

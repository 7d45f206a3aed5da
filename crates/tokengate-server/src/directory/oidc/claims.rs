//! From verified claims to a tokengate user: the user name from `username_claim` (it must be a
//! valid tokengate user name), display name, e-mail (unless marked unverified), groups from
//! `groups_claim` and admin from `admin_group`. Pure: the claims were verified before.

use super::{OidcError, OidcUser};
use serde_json::{Map, Value};
use tokengate_core::model::is_valid_user_name;

/// Which claims mean what, from `[oidc]`.
pub(super) struct ClaimNames {
    pub username: String,
    pub groups: String,
    pub admin_group: String,
}

/// Claims as a JSON object.
pub(super) type Claims = Map<String, Value>;

/// Whether a claim the user is built from is missing, so the userinfo endpoint may fill it in.
pub(super) fn needs_userinfo(claims: &Claims, names: &ClaimNames) -> bool {
    [
        names.username.as_str(),
        names.groups.as_str(),
        "email",
        "name",
    ]
    .iter()
    .any(|claim| !claims.contains_key(*claim))
}

/// Claims from the userinfo endpoint added to those of the ID token where the ID token has
/// none; the ID token wins. Refused when userinfo speaks of another subject.
pub(super) fn merge_userinfo(claims: &mut Claims, userinfo: Claims) -> Result<(), OidcError> {
    let same_subject = matches!(
        (userinfo.get("sub"), claims.get("sub")),
        (Some(Value::String(answer)), Some(Value::String(token))) if answer == token
    );
    if !same_subject {
        return Err(OidcError::Refused(
            "the userinfo answer is about another subject than the ID token".into(),
        ));
    }
    for (name, value) in userinfo {
        claims.entry(name).or_insert(value);
    }
    Ok(())
}

pub(super) fn user_from(claims: &Claims, names: &ClaimNames) -> Result<OidcUser, OidcError> {
    let name = match claims.get(&names.username) {
        Some(Value::String(name)) if is_valid_user_name(name) => name.clone(),
        Some(Value::String(name)) => {
            return Err(OidcError::Refused(format!(
                "the claim {} ({}) is not a valid user name (A-Z a-z 0-9 . _ @ -, at most 128)",
                names.username,
                quoted(name)
            )));
        }
        Some(_) => {
            return Err(OidcError::Refused(format!(
                "the claim {} is not a string",
                names.username
            )));
        }
        None => {
            return Err(OidcError::Refused(format!(
                "the provider sent no {} claim",
                names.username
            )));
        }
    };
    let display_name = text_claim(claims, "name", 256).unwrap_or_else(|| name.clone());
    let email = if claims.get("email_verified") == Some(&Value::Bool(false)) {
        None
    } else {
        text_claim(claims, "email", 254).filter(|email| email.contains('@'))
    };
    let groups = groups(claims.get(&names.groups));
    let admin = !names.admin_group.is_empty() && groups.contains(&names.admin_group);
    Ok(OidcUser {
        name,
        display_name,
        email,
        groups,
        admin,
    })
}

/// A string claim without control characters, at most `limit` characters, else nothing.
fn text_claim(claims: &Claims, claim: &str, limit: usize) -> Option<String> {
    match claims.get(claim) {
        Some(Value::String(text))
            if !text.trim().is_empty()
                && text.chars().count() <= limit
                && !text.chars().any(char::is_control) =>
        {
            Some(text.trim().to_owned())
        }
        _ => None,
    }
}

/// An array of group names (or a single one). Names a tokengate group cannot have
/// (`[A-Za-z0-9._@ -]{1,128}`) are left out and logged; repeats are dropped.
fn groups(claim: Option<&Value>) -> Vec<String> {
    let names: Vec<&str> = match claim {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(one)) => vec![one.as_str()],
        _ => Vec::new(),
    };
    let mut groups: Vec<String> = Vec::new();
    for name in names {
        if !is_valid_group_name(name) {
            tracing::warn!(group = %quoted(name), "OIDC group left out: not a valid group name");
        } else if !groups.iter().any(|known| known == name) {
            groups.push(name.to_owned());
        }
    }
    groups
}

fn is_valid_group_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'@' | b' ' | b'-')
        })
}

/// At most 64 characters of a claim for a message, quoted and escaped.
fn quoted(text: &str) -> String {
    let short: String = text.chars().take(64).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> ClaimNames {
        ClaimNames {
            username: "preferred_username".into(),
            groups: "groups".into(),
            admin_group: "tokengate-admins".into(),
        }
    }

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => map,
            _ => Claims::new(),
        }
    }

    #[test]
    fn a_user_is_built_from_the_configured_claims() {
        let user = user_from(
            &claims(
                json!({"sub": "1", "preferred_username": "alice", "name": "Alice A.",
                "email": "alice@example.com", "groups": ["devs", "tokengate-admins", "devs"]}),
            ),
            &names(),
        )
        .expect("a user");
        assert_eq!(user.name, "alice");
        assert_eq!(user.display_name, "Alice A.");
        assert_eq!(user.email.as_deref(), Some("alice@example.com"));
        assert_eq!(user.groups, ["devs", "tokengate-admins"]);
        assert!(user.admin);
    }

    #[test]
    fn user_names_tokengate_cannot_hold_are_refused() {
        for bad in [
            json!("alice smith"),
            json!(""),
            json!("a/b"),
            json!("x".repeat(129)),
            json!(42),
            json!(["alice"]),
            json!("ålice"),
            json!("alice\n"),
        ] {
            let result = user_from(&claims(json!({"preferred_username": bad})), &names());
            assert!(
                matches!(result, Err(OidcError::Refused(_))),
                "{bad}: {result:?}"
            );
        }
        let missing = user_from(&claims(json!({"sub": "1", "email": "a@b"})), &names());
        assert!(
            matches!(missing, Err(OidcError::Refused(message)) if message.contains("preferred_username"))
        );
    }

    #[test]
    fn odd_groups_are_left_out_and_admin_needs_the_exact_group() {
        let user = user_from(
            &claims(
                json!({"preferred_username": "bob", "email": "bob@example.com",
                "email_verified": false,
                "groups": ["/devs", "Tokengate-Admins", 7, "ops team", "tokengate-admins "]}),
            ),
            &names(),
        )
        .expect("a user");
        assert_eq!(
            user.groups,
            ["Tokengate-Admins", "ops team", "tokengate-admins "]
        );
        assert!(!user.admin);
        assert_eq!(user.email, None, "an unverified e-mail is not taken");
        assert_eq!(user.display_name, "bob");
        let no_admin_group = ClaimNames {
            admin_group: String::new(),
            ..names()
        };
        let user = user_from(
            &claims(json!({"preferred_username": "eve", "groups": [""]})),
            &no_admin_group,
        )
        .expect("a user");
        assert!(user.groups.is_empty() && !user.admin);
    }

    #[test]
    fn userinfo_fills_in_missing_claims_only_for_the_same_subject() {
        let mut token = claims(json!({"sub": "1", "preferred_username": "alice"}));
        assert!(needs_userinfo(&token, &names()));
        merge_userinfo(
            &mut token,
            claims(json!({"sub": "1", "preferred_username": "mallory",
            "groups": ["devs"]})),
        )
        .expect("same subject");
        assert_eq!(token["preferred_username"], "alice");
        assert_eq!(token["groups"], json!(["devs"]));
        let other = merge_userinfo(&mut token, claims(json!({"sub": "2"})));
        assert!(matches!(other, Err(OidcError::Refused(_))));
        let missing_sub = merge_userinfo(&mut token, claims(json!({"groups": []})));
        assert!(matches!(missing_sub, Err(OidcError::Refused(_))));
    }
}

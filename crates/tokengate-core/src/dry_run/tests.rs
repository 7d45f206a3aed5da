use super::*;
use crate::allowlist::IpAllowList;
use crate::groups::{GroupList, Permissions};
use crate::model::PasswordAuth;
use crate::token::TokenSecret;
use chrono::NaiveDate;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2027-03-01T12:00:00Z")
        .expect("instant")
        .with_timezone(&Utc)
}

fn row(user: &str, token: Option<&str>, address: &str, via: Via, count: u64) -> UsageRow {
    UsageRow {
        day: NaiveDate::from_ymd_opt(2027, 2, 27).expect("day"),
        user: user.into(),
        token_id: token.map(str::to_owned),
        address: address.parse().expect("address"),
        via,
        route: Some("default".into()),
        count,
    }
}

/// A refusal as (address, via, reason, requests).
type Seen = (String, Via, Reason, u64);

fn user(name: &str, admin: bool, groups: &[&str]) -> User {
    User {
        admin,
        groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        ..User::named(name)
    }
}

fn allow(entries: &[&str]) -> IpAllowList {
    IpAllowList::parse(entries).expect("valid list")
}

fn usage() -> Vec<UsageRow> {
    vec![
        row("alice", Some("t-alice"), "10.0.0.5", Via::Token, 40),
        row("alice", Some("t-alice"), "192.0.2.9", Via::Token, 7),
        row("bob", None, "10.0.0.6", Via::Password, 12),
        row("admin", None, "198.51.100.1", Via::Password, 3),
        row("carol", None, "192.0.2.10", Via::Session, 5),
    ]
}

fn users() -> Vec<User> {
    vec![
        user("alice", false, &["dev"]),
        user("bob", false, &[]),
        user("admin", true, &[]),
        user("carol", false, &[]),
    ]
}

#[test]
fn the_probe_token_has_the_token_format() {
    let secret = PROBE_TOKEN.trim_start_matches("Bearer ");
    assert!(TokenSecret::parse(secret).is_some());
}

#[test]
fn the_current_defaults_refuse_nothing() {
    let report = dry_run(&Settings::default(), &usage(), &users(), "admin", now());
    assert_eq!(report.users, Vec::new());
    assert!(!report.locks_out_caller);
    assert_eq!(report.recorded_requests, 67);
    assert_eq!(report.refused_requests, 0);
}

#[test]
fn an_allow_list_and_no_passwords_refuse_exactly_the_affected_requests() {
    let proposed = Settings {
        ip_allowlist: allow(&["10.0.0.0/8", "198.51.100.1"]),
        password_auth: PasswordAuth::Disabled,
        ..Settings::default()
    };
    let report = dry_run(&proposed, &usage(), &users(), "alice", now());
    let summary: Vec<(&str, bool, u64, Vec<Seen>)> = report
        .users
        .iter()
        .map(|user| {
            (
                user.user.as_str(),
                user.is_caller,
                user.requests,
                user.refusals
                    .iter()
                    .map(|r| (r.address.to_string(), r.via, r.reason, r.requests))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "alice",
                true,
                7,
                vec![("192.0.2.9".into(), Via::Token, Reason::IpNotAllowed, 7)]
            ),
            (
                "bob",
                false,
                12,
                vec![(
                    "10.0.0.6".into(),
                    Via::Password,
                    Reason::PasswordAuthDisabled,
                    12
                )]
            ),
            (
                "carol",
                false,
                5,
                vec![("192.0.2.10".into(), Via::Session, Reason::IpNotAllowed, 5)]
            ),
            (
                "admin",
                false,
                3,
                vec![(
                    "198.51.100.1".into(),
                    Via::Password,
                    Reason::PasswordAuthDisabled,
                    3
                )]
            ),
        ]
    );
    assert!(report.locks_out_caller, "the caller comes first");
    assert_eq!(report.refused_requests, 27);
}

#[test]
fn admins_only_and_permissions_refuse_tokens_of_those_who_lose_them() {
    let admins_only = Settings {
        admins_only: true,
        ..Settings::default()
    };
    let report = dry_run(&admins_only, &usage(), &users(), "admin", now());
    assert_eq!(report.users.len(), 1);
    assert_eq!(report.users[0].user, "alice");
    assert_eq!(report.users[0].requests, 47);
    assert!(
        report.users[0]
            .refusals
            .iter()
            .all(|refusal| refusal.reason == Reason::TokensNotPermitted
                && refusal.token_id.as_deref() == Some("t-alice"))
    );
    assert!(!report.locks_out_caller);

    let only_dev = Settings {
        permissions: Permissions {
            use_tokens: GroupList::parse(&["dev"]).expect("groups"),
            ..Permissions::default()
        },
        ..Settings::default()
    };
    let report = dry_run(&only_dev, &usage(), &users(), "admin", now());
    assert_eq!(report.users, Vec::new(), "alice is in dev");
    let only_ops = Settings {
        permissions: Permissions {
            use_tokens: GroupList::parse(&["ops"]).expect("groups"),
            ..Permissions::default()
        },
        ..Settings::default()
    };
    let report = dry_run(&only_ops, &usage(), &users(), "admin", now());
    assert_eq!(report.refused_requests, 47);
}

#[test]
fn gone_and_disabled_users_are_left_out_and_an_allow_list_refusal_comes_first() {
    let mut users = users();
    users.retain(|user| user.name != "bob");
    users
        .iter_mut()
        .for_each(|user| user.disabled |= user.name == "carol");
    let proposed = Settings {
        ip_allowlist: allow(&["203.0.113.0/24"]),
        password_auth: PasswordAuth::Disabled,
        ..Settings::default()
    };
    let report = dry_run(&proposed, &usage(), &users, "admin", now());
    let names: Vec<&str> = report.users.iter().map(|user| user.user.as_str()).collect();
    assert_eq!(names, ["admin", "alice"]);
    // The allow-list is step 2: it refuses before the password switch is asked.
    assert_eq!(report.users[0].refusals[0].reason, Reason::IpNotAllowed);
    assert!(report.locks_out_caller);
    assert_eq!(report.recorded_requests, 50);
}

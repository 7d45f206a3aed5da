use super::*;
use crate::audit::Origin;
use crate::model::Actor;
use crate::restrictions::Restrictions;
use crate::token::TokenDigest;
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap()
}

fn audit(actor: &str, action: AuditAction, user: &str) -> NewAudit {
    NewAudit::new(
        now(),
        &Actor::User(actor.into()),
        action,
        &Origin::default(),
    )
    .user(user)
}

fn token(expires_at: Option<DateTime<Utc>>) -> TokenRecord {
    TokenRecord {
        restrictions: Restrictions::default(),
        id: "tok1".into(),
        owner: "alice".into(),
        name: "ci".into(),
        digest: TokenDigest([7; 32]),
        hint: "tg_ab…yz".into(),
        created_at: now() - Duration::days(300),
        created_by: "alice".into(),
        expires_at,
        last_used_at: None,
        last_used_ip: None,
        made_by: None,
        rotated_at: None,
        rotated_from: None,
    }
}

#[test]
fn event_names_are_the_webhook_names() {
    for event in Event::ALL {
        assert_eq!(serde_json::to_value(event).unwrap(), json!(event.as_str()));
        assert_eq!(Event::parse(event.as_str()), Some(event));
    }
    assert_eq!(Event::parse("token.renamed"), None);
}

#[test]
fn a_token_created_by_its_owner_notifies_webhooks_but_mails_nobody() {
    let record = audit("alice", AuditAction::TokenCreated, "alice")
        .token("tok1")
        .details(json!({"name": "ci", "hint": "tg_ab…yz", "expires_at": null}));
    let notice = of_audit(&record).expect("a notice");
    assert_eq!(notice.event, Event::TokenCreated);
    assert_eq!(notice.mail, None);
    assert_eq!(notice.data["token"]["id"], "tok1");
    assert_eq!(notice.data["token"]["owner"], "alice");
    assert_eq!(notice.data["token"]["name"], "ci");
    assert_eq!(notice.data["actor"], "alice");
    assert_eq!(notice.key, None);
}

#[test]
fn a_token_created_or_deleted_by_an_admin_for_someone_mails_the_owner() {
    let created = of_audit(&audit("root", AuditAction::TokenCreated, "alice").token("t")).unwrap();
    assert_eq!(
        created.mail,
        Some(Mail::CreatedForYou { by: "root".into() })
    );
    let deleted = of_audit(&audit("root", AuditAction::TokenDeleted, "alice").token("t")).unwrap();
    assert_eq!(
        deleted.mail,
        Some(Mail::DeletedForYou {
            by: "root".into(),
            count: None
        })
    );
    let own = of_audit(&audit("alice", AuditAction::TokenDeleted, "alice").token("t")).unwrap();
    assert_eq!(own.mail, None);
}

#[test]
fn deleting_all_of_a_users_tokens_is_one_deletion_notice_with_the_count() {
    let record = audit("root", AuditAction::TokenDeletedAll, "alice").details(json!({"count": 3}));
    let notice = of_audit(&record).unwrap();
    assert_eq!(notice.event, Event::TokenDeleted);
    assert_eq!(notice.data["tokens"], json!({"owner": "alice", "count": 3}));
    assert_eq!(
        notice.mail,
        Some(Mail::DeletedForYou {
            by: "root".into(),
            count: Some(3)
        })
    );
    let none = audit("root", AuditAction::TokenDeletedAll, "alice").details(json!({"count": 0}));
    assert_eq!(of_audit(&none).unwrap().mail, None);
}

#[test]
fn the_details_never_override_the_ids_of_a_notice() {
    let record = audit("root", AuditAction::TokenRotated, "alice")
        .token("tok1")
        .details(json!({"id": "forged", "owner": "mallory", "hint": "tg_new"}));
    let notice = of_audit(&record).unwrap();
    assert_eq!(notice.data["token"]["id"], "tok1");
    assert_eq!(notice.data["token"]["owner"], "alice");
    assert_eq!(notice.data["token"]["hint"], "tg_new");
}

#[test]
fn locks_deprovisioning_and_settings_changes_notify_and_renames_do_not() {
    let locked = of_audit(&audit("system", AuditAction::UserLocked, "alice")).unwrap();
    assert_eq!(locked.event, Event::UserLocked);
    assert_eq!(locked.data["user"]["name"], "alice");
    let gone = of_audit(&audit("system", AuditAction::UserDeprovisioned, "bob")).unwrap();
    assert_eq!(gone.event, Event::UserDeprovisioned);
    let settings = NewAudit::new(
        now(),
        &Actor::Cli,
        AuditAction::SettingsChanged,
        &Origin::default(),
    )
    .details(json!({"admins_only": {"old": false, "new": true}}));
    let notice = of_audit(&settings).unwrap();
    assert_eq!(notice.data["settings"]["admins_only"]["new"], true);
    assert_eq!(notice.mail, None);
    for quiet in [
        AuditAction::TokenRenamed,
        AuditAction::UserCreated,
        AuditAction::GroupChanged,
        AuditAction::TokenExpiryClamped,
    ] {
        assert_eq!(of_audit(&audit("root", quiet, "alice")), None, "{quiet}");
    }
}

#[test]
fn expiry_notices_go_out_at_30_7_and_1_days_and_at_expiry() {
    let cases = [
        (Duration::days(45), None),
        (Duration::days(30), Some((Event::TokenExpiring, 30))),
        (Duration::days(8), Some((Event::TokenExpiring, 30))),
        (Duration::days(7), Some((Event::TokenExpiring, 7))),
        (Duration::hours(25), Some((Event::TokenExpiring, 7))),
        (Duration::hours(24), Some((Event::TokenExpiring, 1))),
        (Duration::seconds(1), Some((Event::TokenExpiring, 1))),
        (Duration::zero(), Some((Event::TokenExpired, 0))),
        (-Duration::days(7), Some((Event::TokenExpired, 0))),
        (-Duration::days(8), None),
    ];
    for (left, expected) in cases {
        let notice = expiry_notice(&token(Some(now() + left)), now());
        let got = notice
            .as_ref()
            .map(|n| (n.event, n.data["days"].as_u64().unwrap() as u32));
        assert_eq!(got, expected, "{left}");
        if let Some(notice) = notice {
            assert_eq!(notice.user.as_deref(), Some("alice"));
            assert!(notice.key.unwrap().starts_with("expiry:tok1:"));
        }
    }
    assert_eq!(expiry_notice(&token(None), now()), None);
}

#[test]
fn an_expiry_notice_is_the_same_notice_however_often_it_is_looked_for() {
    let expiring = token(Some(now() + Duration::days(5)));
    let first = expiry_notice(&expiring, now()).unwrap();
    let later = expiry_notice(&expiring, now() + Duration::hours(3)).unwrap();
    assert_eq!(first.key, later.key);
    let rotated = token(Some(now() + Duration::days(6)));
    assert_ne!(expiry_notice(&rotated, now()).unwrap().key, first.key);
}

#[test]
fn failed_deliveries_wait_longer_each_time_and_stop_after_the_retry_period() {
    let policy = RetryPolicy::default();
    let waits: Vec<i64> = (1..=9)
        .map(
            |attempt| match policy.after_failure(attempt, now(), now(), "down".into(), false) {
                Outcome::Retry { at, .. } => (at - now()).num_seconds(),
                other => panic!("{other:?}"),
            },
        )
        .collect();
    assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    let late = now() + Duration::hours(24);
    assert_eq!(
        policy.after_failure(30, now(), late, "down".into(), false),
        Outcome::Failed("down".into())
    );
    assert_eq!(
        policy.after_failure(1, now(), now(), "550 no such user".into(), true),
        Outcome::Failed("550 no such user".into())
    );
}

#[test]
fn the_incident_button_for_everyone_tells_each_owner_their_own_count() {
    let everyone = NewAudit::new(
        now(),
        &Actor::User("root".into()),
        AuditAction::TokenRevokedBefore,
        &Origin::default(),
    )
    .details(json!({"before": "2026-06-01T11:00:00Z", "count": 3,
                    "owners": {"alice": 2, "root": 1}, "also_deleted": []}));
    let notices = notices_of(&everyone);
    assert_eq!(notices.len(), 2, "one per owner: {notices:#?}");
    let alice = &notices[0];
    assert_eq!(alice.user.as_deref(), Some("alice"));
    assert_eq!(alice.event, Event::TokenDeleted);
    assert_eq!(
        alice.data["tokens"],
        json!({"owner": "alice", "count": 2, "before": "2026-06-01T11:00:00Z"})
    );
    assert_eq!(
        alice.mail,
        Some(Mail::DeletedForYou {
            by: "root".into(),
            count: Some(2)
        })
    );
    assert_eq!(notices[1].user.as_deref(), Some("root"));
    assert_eq!(
        notices[1].mail, None,
        "the admin who pressed it is not mailed"
    );

    // Nothing revoked: the press itself is still one webhook event, mailing nobody.
    let nothing = NewAudit::new(
        now(),
        &Actor::User("root".into()),
        AuditAction::TokenRevokedBefore,
        &Origin::default(),
    )
    .details(json!({"before": "2026-06-01T11:00:00Z", "count": 0, "owners": {}}));
    let notices = notices_of(&nothing);
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].mail, None);
    // Every other record makes what `of_audit` makes.
    let one = audit("root", AuditAction::TokenDeletedAll, "alice").details(json!({"count": 3}));
    assert_eq!(notices_of(&one), vec![of_audit(&one).unwrap()]);
}

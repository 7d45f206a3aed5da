//! The LDAP directory client against a real OpenLDAP server (tests/common/ldap.rs): sign-in by
//! search-then-bind, groups by memberOf and by member search, lookup and the sync's list,
//! LDAPS and StartTLS with a private CA, and a directory that is down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::ldap::{EXAMPLE, LIMITED_DN, PLAIN, SERVICE_PASSWORD, Slapd};
use std::time::{Duration, Instant};
use tokengate_core::Secret;
use tokengate_server::config::ldap::LdapConfig;
use tokengate_server::directory::{DirectoryError, DirectoryUser, Ldap};

fn client(config: &LdapConfig) -> Ldap {
    Ldap::new(config).unwrap()
}

async fn sign_in(ldap: &Ldap, name: &str, password: &str) -> Option<DirectoryUser> {
    ldap.authenticate(name, &Secret::new(password))
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

#[tokio::test]
async fn the_right_password_gives_the_user_with_display_name_email_groups_and_admin_flag() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    let alice = sign_in(&ldap, "alice", "alice-pw").await.expect("alice");
    assert_eq!(
        alice,
        DirectoryUser {
            name: "alice".into(),
            display_name: "Alice Liddell".into(),
            email: Some("alice@example.com".into()),
            groups: strings(&["developers", "tokengate-admins"]),
            admin: true,
        }
    );
    let bob = sign_in(&ldap, "bob", "bob-pw").await.expect("bob");
    assert_eq!((bob.email, bob.admin), (None, false));
    assert_eq!(bob.groups, strings(&["developers"]));
}

#[tokio::test]
async fn a_name_typed_in_another_case_signs_in_under_the_directory_spelling() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    let alice = sign_in(&ldap, "ALICE", "alice-pw").await.expect("alice");
    assert_eq!(alice.name, "alice");
}

#[tokio::test]
async fn a_filter_on_another_attribute_signs_in_under_the_name_attribute() {
    let Some(slapd) = Slapd::start() else { return };
    let by_mail = client(&LdapConfig {
        user_filter: "(&(objectClass=inetOrgPerson)(mail={user}))".into(),
        ..slapd.config()
    });
    let alice = sign_in(&by_mail, "alice@example.com", "alice-pw").await;
    assert_eq!(alice.expect("alice by mail").name, "alice");
    // jo's uid has a space: no tokengate user name, so not a user however found.
    assert_eq!(
        sign_in(&by_mail, "jo@example.com", "jo smith-pw").await,
        None
    );
    assert_eq!(by_mail.lookup("jo@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn wrong_unknown_and_empty_passwords_give_none() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    for (name, password) in [
        ("alice", "wrong"),
        ("alice", "ALICE-PW"),
        ("alice", "alice-pw "),
        ("alice", "bob-pw"),
        ("alice", SERVICE_PASSWORD),
        ("alice", ""),
        ("bob", ""),
        ("nobody", "alice-pw"),
        ("nobody", ""),
    ] {
        assert_eq!(
            sign_in(&ldap, name, password).await,
            None,
            "{name}/{password}"
        );
    }
    // The right password still works after the refusals (nothing was locked or changed).
    assert!(sign_in(&ldap, "alice", "alice-pw").await.is_some());
}

#[tokio::test]
async fn filter_metacharacters_in_the_name_never_match_another_user_or_look_unavailable() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    let names = [
        "*",
        "a*",
        "al*ce",
        "alice*",
        "(",
        ")",
        "\\",
        "\\2a",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice)(|(objectClass=*)",
        "alice\0",
        "\0",
        " alice",
        "alice ",
        "",
    ];
    for name in names {
        for password in ["alice-pw", "bob-pw", "*"] {
            let answer = ldap.authenticate(name, &Secret::new(password)).await;
            assert!(
                matches!(answer, Ok(None)),
                "{name:?}/{password}: {answer:?}"
            );
        }
        let found = ldap.lookup(name).await;
        assert!(matches!(found, Ok(None)), "{name:?}: {found:?}");
    }
}

#[tokio::test]
async fn groups_come_from_a_search_of_group_base_when_entries_carry_no_member_of() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.plain_config());
    let gina = sign_in(&ldap, "gina", "gina-pw").await.expect("gina");
    assert_eq!(gina.groups, strings(&["plain-admins", "qa", "reviewers"]));
    assert!(gina.admin);
    assert_eq!(gina.email.as_deref(), Some("gina@plain.test"));
    let hank = sign_in(&ldap, "hank", "hank-pw").await.expect("hank");
    assert_eq!(hank.groups, strings(&["operators"]), "posixGroup memberUid");
    assert!(!hank.admin);
    // Without a group_base only memberOf counts, and the plain tree has none.
    let no_groups = client(&LdapConfig {
        group_base: String::new(),
        ..slapd.plain_config()
    });
    let gina = sign_in(&no_groups, "gina", "gina-pw").await.expect("gina");
    assert_eq!((gina.groups, gina.admin), (Vec::<String>::new(), false));
}

#[tokio::test]
async fn dns_with_commas_parentheses_and_stars_sign_in_and_keep_their_groups() {
    let Some(slapd) = Slapd::start() else { return };
    // memberOf values naming "cn=Smith\, John,…".
    let dave = sign_in(&client(&slapd.config()), "dave", "dave-pw")
        .await
        .expect("dave");
    assert_eq!(dave.display_name, "Dave, Jr. (QA)");
    assert_eq!(dave.groups, strings(&["Smith, John", "developers"]));
    // The group search with the DN "cn=Ivy (QA)\, Team*,…" escaped in the filter.
    let plain = client(&slapd.plain_config());
    let ivy = sign_in(&plain, "ivy", "ivy-pw").await.expect("ivy");
    assert_eq!(ivy.groups, strings(&["qa"]));
    assert_eq!(sign_in(&plain, "ivy", "gina-pw").await, None);
}

#[tokio::test]
async fn lookup_reads_a_user_and_ignores_entries_outside_the_filter_or_disabled() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&LdapConfig {
        display_name_attribute: "displayName".into(),
        ..slapd.config()
    });
    let carol = ldap.lookup("carol").await.unwrap().expect("carol");
    assert_eq!(carol.display_name, "Carol C.");
    assert_eq!(carol.email.as_deref(), Some("carol@example.com"));
    let bob = ldap.lookup("bob").await.unwrap().expect("bob");
    assert_eq!(
        bob.display_name, "bob",
        "no displayName: the name stands in"
    );
    assert!(
        ldap.lookup("frank").await.unwrap().is_some(),
        "enabled AD flags"
    );
    for absent in ["robot", "eve", "nobody", "twin", "kim"] {
        assert_eq!(ldap.lookup(absent).await.unwrap(), None, "{absent}");
    }
}

#[tokio::test]
async fn accounts_outside_the_filter_disabled_or_ambiguous_cannot_sign_in_with_the_right_password()
{
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    // robot: not an inetOrgPerson; eve: userAccountControl 514 (ACCOUNTDISABLE); twin: two
    // entries under user_base.
    for name in ["robot", "eve", "twin", "kim", "KIM"] {
        assert_eq!(
            sign_in(&ldap, name, &format!("{name}-pw")).await,
            None,
            "{name}"
        );
    }
    assert!(sign_in(&ldap, "frank", "frank-pw").await.is_some());
}

#[tokio::test]
async fn all_users_lists_every_user_the_filter_admits_and_forgets_a_deleted_one() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&slapd.config());
    let names = |users: Vec<DirectoryUser>| -> Vec<String> {
        let mut names: Vec<String> = users.into_iter().map(|user| user.name).collect();
        names.sort();
        names
    };
    let users = ldap.all_users().await.unwrap();
    let alice = users
        .iter()
        .find(|user| user.name == "alice")
        .expect("alice");
    assert!(alice.admin);
    assert_eq!(alice.groups, strings(&["developers", "tokengate-admins"]));
    assert_eq!(
        names(users),
        strings(&["alice", "bob", "carol", "dave", "frank"])
    );
    slapd.delete(&format!("uid=bob,ou=people,{EXAMPLE}"));
    assert_eq!(
        names(ldap.all_users().await.unwrap()),
        strings(&["alice", "carol", "dave", "frank"])
    );
    assert_eq!(ldap.lookup("bob").await.unwrap(), None);
    assert_eq!(sign_in(&ldap, "bob", "bob-pw").await, None);
    let plain = client(&slapd.plain_config());
    let users = plain.all_users().await.unwrap();
    assert_eq!(names(users.clone()), strings(&["gina", "hank", "ivy"]));
    let ivy = users.iter().find(|user| user.name == "ivy").expect("ivy");
    assert_eq!(ivy.groups, strings(&["qa"]));
}

#[tokio::test]
async fn all_users_reads_past_the_server_size_limit_page_by_page() {
    let Some(slapd) = Slapd::start() else { return };
    // slapd answers the service account at most 500 entries a search, but any number page by
    // page (size.prtotal=unlimited, as docs/deploy/ldap.md advises); 623 users need two pages.
    let ldif: String = (0..620)
        .map(|index| {
            format!(
                "dn: uid=user{index},ou=people,{PLAIN}\nobjectClass: inetOrgPerson\n\
                 uid: user{index}\ncn: User {index}\nsn: {index}\n\n"
            )
        })
        .collect();
    slapd.add(&ldif);
    let users = client(&slapd.plain_config()).all_users().await.unwrap();
    assert_eq!(users.len(), 623);
}

#[tokio::test]
async fn a_list_cut_short_by_the_directory_is_an_error_never_a_shorter_list() {
    let Some(slapd) = Slapd::start() else { return };
    // The sync disables whoever is missing from the list: a truncated answer must not count.
    let limited = client(&LdapConfig {
        bind_dn: LIMITED_DN.into(),
        bind_password: Some("limited-pw".into()),
        ..slapd.config()
    });
    let started = Instant::now();
    let answer = limited.all_users().await;
    let message = assert_unavailable(answer, started, Duration::from_secs(5), &["limited-pw"]);
    assert!(message.contains("sizeLimitExceeded"), "{message}");
    // One user at a time stays within the limit.
    assert!(limited.lookup("alice").await.unwrap().is_some());
}

/// `answer` is `Unavailable`, came within `limit`, and says nothing of `secrets`.
fn assert_unavailable<T: std::fmt::Debug>(
    answer: Result<T, DirectoryError>,
    started: Instant,
    limit: Duration,
    secrets: &[&str],
) -> String {
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    let message = match answer {
        Err(DirectoryError::Unavailable(message)) => message,
        other => panic!("expected Unavailable, got {other:?}"),
    };
    for secret in secrets {
        assert!(!message.contains(secret), "{message}");
    }
    message
}

#[tokio::test]
async fn a_stopped_directory_is_unavailable_within_seconds() {
    let Some(mut slapd) = Slapd::start() else {
        return;
    };
    let ldap = client(&slapd.config());
    assert!(sign_in(&ldap, "alice", "alice-pw").await.is_some());
    slapd.stop();
    let secrets = ["alice-pw", SERVICE_PASSWORD];
    let started = Instant::now();
    let answer = ldap.authenticate("alice", &Secret::new("alice-pw")).await;
    let message = assert_unavailable(answer, started, Duration::from_secs(5), &secrets);
    assert!(message.contains("cannot connect"), "{message}");
    let started = Instant::now();
    assert_unavailable(
        ldap.lookup("alice").await,
        started,
        Duration::from_secs(5),
        &secrets,
    );
    let started = Instant::now();
    assert_unavailable(
        ldap.all_users().await,
        started,
        Duration::from_secs(5),
        &secrets,
    );
}

#[tokio::test]
async fn a_directory_that_accepts_but_never_answers_times_out_as_unavailable() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&LdapConfig {
        timeout: Duration::from_secs(1),
        ..slapd.config()
    });
    slapd.freeze();
    let started = Instant::now();
    let answer = ldap.authenticate("alice", &Secret::new("alice-pw")).await;
    let message = assert_unavailable(answer, started, Duration::from_secs(4), &["alice-pw"]);
    assert!(
        message.contains("1s") || message.contains("timeout"),
        "{message}"
    );
}

#[tokio::test]
async fn a_refused_service_account_is_unavailable_not_a_wrong_user_password() {
    let Some(slapd) = Slapd::start() else { return };
    let ldap = client(&LdapConfig {
        bind_password: Some("not-the-service-pw".into()),
        ..slapd.config()
    });
    let started = Instant::now();
    let answer = ldap.authenticate("alice", &Secret::new("alice-pw")).await;
    let secrets = ["alice-pw", "not-the-service-pw"];
    let message = assert_unavailable(answer, started, Duration::from_secs(5), &secrets);
    assert!(message.contains("service account"), "{message}");
    assert!(message.contains("invalidCredentials"), "{message}");
}

#[tokio::test]
async fn ldaps_with_the_test_ca_signs_in_and_without_it_is_refused_clearly() {
    let Some(slapd) = Slapd::start() else { return };
    for host in ["127.0.0.1", "localhost"] {
        let ldaps = LdapConfig {
            url: format!("ldaps://{host}:{}", slapd.tls_port),
            ca_file: slapd.ca_file.clone(),
            ..slapd.config()
        };
        let alice = sign_in(&client(&ldaps), "alice", "alice-pw").await;
        assert_eq!(alice.expect(host).groups.len(), 2);
        // The system's roots do not know the test CA.
        let system_roots = client(&LdapConfig {
            ca_file: String::new(),
            ..ldaps
        });
        let started = Instant::now();
        let answer = system_roots
            .authenticate("alice", &Secret::new("alice-pw"))
            .await;
        let message = assert_unavailable(answer, started, Duration::from_secs(5), &["alice-pw"]);
        assert!(message.contains("certificate"), "{message}");
        assert!(message.contains("ca_file"), "{message}");
    }
}

#[tokio::test]
async fn starttls_with_the_test_ca_signs_in_and_without_it_is_refused() {
    let Some(slapd) = Slapd::start() else { return };
    let start_tls = LdapConfig {
        start_tls: true,
        ca_file: slapd.ca_file.clone(),
        ..slapd.config()
    };
    let ldap = client(&start_tls);
    assert!(sign_in(&ldap, "alice", "alice-pw").await.is_some());
    assert_eq!(sign_in(&ldap, "alice", "wrong").await, None);
    assert_eq!(ldap.all_users().await.unwrap().len(), 5);
    let system_roots = client(&LdapConfig {
        ca_file: String::new(),
        ..start_tls
    });
    let started = Instant::now();
    let answer = system_roots.lookup("alice").await;
    let message = assert_unavailable(answer, started, Duration::from_secs(5), &[SERVICE_PASSWORD]);
    assert!(message.contains("certificate"), "{message}");
}

#[tokio::test]
async fn a_client_is_not_made_from_an_unreadable_ca_file_or_a_bad_configuration() {
    let Some(slapd) = Slapd::start() else { return };
    let missing = LdapConfig {
        start_tls: true,
        ca_file: "/nonexistent/ca.pem".into(),
        ..slapd.config()
    };
    let error = Ldap::new(&missing).expect_err("missing ca_file");
    assert!(
        matches!(&error, DirectoryError::Config(message) if message.contains("ldap.ca_file")),
        "{error}"
    );
    let no_placeholder = LdapConfig {
        user_filter: "(uid=alice)".into(),
        ..slapd.config()
    };
    assert!(matches!(
        Ldap::new(&no_placeholder),
        Err(DirectoryError::Config(_))
    ));
    let printed = format!("{:?}", client(&slapd.config()));
    assert!(!printed.contains(SERVICE_PASSWORD), "{printed}");
}

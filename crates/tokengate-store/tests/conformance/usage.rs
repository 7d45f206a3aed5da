//! Usage counts: added up per key across flushes and nodes, read per day or summed, filtered
//! by token and user, pruned by day.

use super::SharedStore;
use chrono::NaiveDate;
use tokengate_core::Via;
use tokengate_core::usage::{DayUsage, UsageFilter, UsageRow};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("day")
}

fn row(on: &str, user: &str, token: Option<&str>, address: &str, via: Via, count: u64) -> UsageRow {
    UsageRow {
        day: day(on),
        user: user.into(),
        token_id: token.map(str::to_owned),
        address: address.parse().expect("address"),
        via,
        route: (via != Via::Session).then(|| "default".to_owned()),
        count,
    }
}

fn since(on: &str) -> UsageFilter {
    UsageFilter {
        since: day(on),
        token_id: None,
        user: None,
        summed: false,
    }
}

fn sample() -> Vec<UsageRow> {
    vec![
        row("2027-02-27", "alice", Some("t1"), "10.0.0.5", Via::Token, 4),
        row("2027-02-28", "alice", Some("t1"), "10.0.0.5", Via::Token, 6),
        row(
            "2027-02-28",
            "alice",
            Some("t1"),
            "2001:db8::7",
            Via::Token,
            1,
        ),
        row("2027-02-28", "bob", None, "10.0.0.6", Via::Password, 2),
        row(
            "2027-03-01",
            "bob",
            None,
            "::ffff:10.0.0.6",
            Via::Session,
            3,
        ),
    ]
}

pub async fn usage_counts_add_up_across_flushes_and_read_back_by_day(store: SharedStore) {
    store.add_usage(&sample()).await.expect("first flush");
    // A second node (or the next minute) adds to the same keys; one key twice in a batch.
    let more = vec![
        row(
            "2027-02-28",
            "alice",
            Some("t1"),
            "10.0.0.5",
            Via::Token,
            10,
        ),
        row("2027-02-28", "alice", Some("t1"), "10.0.0.5", Via::Token, 1),
    ];
    store.add_usage(&more).await.expect("second flush");
    store.add_usage(&[]).await.expect("an empty flush");
    let rows = store.usage(&since("2027-01-01")).await.expect("usage");
    let mut expected = sample();
    expected[1].count = 17;
    // Stored canonical: the IPv4-mapped address reads back as IPv4.
    expected[4].address = "10.0.0.6".parse().expect("address");
    let mut sorted = expected.clone();
    sorted.sort_by(|a, b| {
        (a.day, &a.user, &a.token_id, a.address.to_string()).cmp(&(
            b.day,
            &b.user,
            &b.token_id,
            b.address.to_string(),
        ))
    });
    assert_eq!(rows, sorted);
}

pub async fn usage_is_filtered_by_day_token_and_user_and_summed_over_days(store: SharedStore) {
    store.add_usage(&sample()).await.expect("flush");
    let recent = store.usage(&since("2027-02-28")).await.expect("usage");
    assert_eq!(recent.len(), 4);
    let of_token = store
        .usage(&UsageFilter {
            token_id: Some("t1".into()),
            ..since("2027-01-01")
        })
        .await
        .expect("usage of t1");
    assert_eq!(of_token.iter().map(|row| row.count).sum::<u64>(), 11);
    assert!(
        of_token
            .iter()
            .all(|row| row.token_id.as_deref() == Some("t1"))
    );
    let of_bob = store
        .usage(&UsageFilter {
            user: Some("bob".into()),
            ..since("2027-01-01")
        })
        .await
        .expect("usage of bob");
    assert_eq!(of_bob.len(), 2);
    let summed = store
        .usage(&UsageFilter {
            summed: true,
            ..since("2027-01-01")
        })
        .await
        .expect("summed usage");
    let alice_v4: Vec<&UsageRow> = summed
        .iter()
        .filter(|row| row.user == "alice" && row.address.is_ipv4())
        .collect();
    assert_eq!(alice_v4.len(), 1);
    assert_eq!(alice_v4[0].count, 10);
    assert_eq!(alice_v4[0].day, day("2027-02-28"), "the latest day");
    assert_eq!(summed.len(), 4);
    let nothing = store
        .usage(&UsageFilter {
            token_id: Some("' OR 1=1 --".into()),
            ..since("2027-01-01")
        })
        .await
        .expect("usage of a hostile id");
    assert!(nothing.is_empty());
}

pub async fn usage_per_day_sums_each_via(store: SharedStore) {
    store.add_usage(&sample()).await.expect("flush");
    let per_day = store
        .usage_per_day(day("2027-02-28"))
        .await
        .expect("per day");
    assert_eq!(
        per_day,
        vec![
            DayUsage {
                day: day("2027-02-28"),
                via: Via::Password,
                count: 2
            },
            DayUsage {
                day: day("2027-02-28"),
                via: Via::Token,
                count: 7
            },
            DayUsage {
                day: day("2027-03-01"),
                via: Via::Session,
                count: 3
            },
        ]
    );
}

pub async fn pruning_deletes_only_days_before_the_limit(store: SharedStore) {
    store.add_usage(&sample()).await.expect("flush");
    assert_eq!(
        store.prune_usage(day("2027-02-28")).await.expect("prune"),
        1
    );
    assert_eq!(
        store.prune_usage(day("2027-02-28")).await.expect("again"),
        0
    );
    let rows = store.usage(&since("2000-01-01")).await.expect("usage");
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|row| row.day >= day("2027-02-28")));
}

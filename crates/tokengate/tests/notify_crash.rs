//! SPEC §12 "nothing lost": `kill -9` of the real `tokengate serve` while it is sending a batch
//! of e-mail notices to a real SMTP server (aiosmtpd, answering each mail after a short delay
//! so the kill lands mid-send). After a restart on the same database every notice arrives,
//! and the only mail that may arrive twice is the one the killed node had in flight: at least
//! once, at most one extra mail per crash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod process;
#[path = "../../tokengate-server/tests/common/smtp.rs"]
mod smtp;

use process::Installation;
use smtp::{SmtpServer, header};
use std::collections::BTreeMap;
use std::time::Duration;

const NOTICES: usize = 40;
/// The kill comes once this many mails arrived.
const KILL_AFTER: usize = 12;

/// How often each subject arrived.
fn tally(messages: &[String]) -> BTreeMap<String, usize> {
    let mut tally = BTreeMap::new();
    for message in messages {
        *tally
            .entry(header(message, "Subject").unwrap_or_default())
            .or_insert(0) += 1;
    }
    tally
}

#[test]
fn a_node_killed_while_sending_loses_no_notice_and_repeats_at_most_the_one_in_flight() {
    let Some(smtp) = SmtpServer::start(0.05) else {
        return;
    };
    let mut installation = Installation::sqlite(None);
    installation.env.extend(
        [
            ("TOKENGATE_SMTP__URL", smtp.url()),
            ("TOKENGATE_SMTP__FROM", "tokengate@example.com".to_owned()),
            ("TOKENGATE_NOTIFICATIONS__LEASE", "2s".to_owned()),
            ("TOKENGATE_NOTIFICATIONS__POLL", "1s".to_owned()),
        ]
        .map(|(key, value)| (key.to_owned(), value)),
    );
    // Alice, her address, and a token for her per notice, each made by the operator
    // ("created for you": one mail each), written to the outbox before any node runs.
    installation.cli(&["user", "add", "alice"]);
    installation.cli(&["user", "set-email", "alice", "alice@example.com"]);
    for index in 0..NOTICES {
        let name = format!("n{index:02}");
        installation.cli(&["token", "create", "--user", "alice", "--name", &name]);
    }

    let mut server = installation.serve();
    let before_kill = smtp.wait_for(KILL_AFTER, Duration::from_secs(60));
    server.kill();
    let at_kill = smtp.messages().len();
    assert!(
        before_kill.len() >= KILL_AFTER && at_kill < NOTICES,
        "the kill must land mid-batch: {at_kill} of {NOTICES} mails had arrived"
    );

    let _restarted = installation.serve();
    let started = std::time::Instant::now();
    while tally(&smtp.messages()).len() < NOTICES && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let messages = smtp.messages();
    let tally = tally(&messages);
    eprintln!(
        "killed after {at_kill} of {NOTICES} mails; after the restart {} mails for {} notices",
        messages.len(),
        tally.len()
    );
    assert_eq!(tally.len(), NOTICES, "every notice arrived: {tally:#?}");
    for index in 0..NOTICES {
        let subject = format!("An API token \"n{index:02}\" was created for you");
        assert!(tally.contains_key(&subject), "missing {subject}");
    }
    let repeated: Vec<_> = tally.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        messages.len() <= NOTICES + 1 && repeated.iter().all(|(_, count)| **count == 2),
        "at most the one mail in flight is sent again: {repeated:?}"
    );
}

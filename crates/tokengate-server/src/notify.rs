//! The notifier (SPEC §12): works the outbox on every node. It looks for due expiry notices
//! at start-up and every `notifications.expiry_scan` (each is one notice however many nodes
//! look, by its key), plans each new notice's deliveries (an e-mail to the user when `[smtp]`
//! is set, one `POST` per `[[webhooks]]` entry that wants the event), and sends due
//! deliveries one at a time under a claim with a lease, retrying failures with backoff. A node
//! that dies mid-send leaves at most its one claimed delivery to be sent again once the lease
//! runs out: delivery is at least once, and at most one more than once per crash.

pub mod mail;
pub mod webhook;

use crate::config::notify::{NotificationsConfig, SmtpConfig, WebhookConfig};
use crate::state::SharedState;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokengate_core::notices::{
    self, Channel, Delivery, DeliveryState, Event, NewDelivery, Outcome, RetryPolicy, StoredNotice,
};
use tokengate_core::store::{Store, StoreError};
use tokio::sync::watch;

/// How many notices are planned per transaction.
const PLAN_BATCH: u32 = 100;
/// How often the outbox gauges are refreshed and old notices pruned.
const HOUSEKEEPING: Duration = Duration::from_secs(60);
/// The longest error text kept with a delivery.
const ERROR_LENGTH: usize = 300;

/// Everything the notifier of one node needs.
pub struct Notifier {
    store: Arc<dyn Store>,
    metrics: Arc<crate::metrics::Metrics>,
    node: String,
    smtp: Option<(SmtpConfig, mail::Transport)>,
    /// Each receiver with the HTTP client that trusts its certificate.
    webhooks: Vec<(WebhookConfig, reqwest::Client)>,
    settings: NotificationsConfig,
    public_url: String,
}

impl Notifier {
    pub fn new(state: &SharedState) -> Result<Self, String> {
        let config = &state.config;
        let smtp = match &config.smtp {
            Some(smtp) => Some((smtp.clone(), mail::transport(smtp)?)),
            None => None,
        };
        let webhooks = config
            .webhooks
            .iter()
            .map(|hook| {
                let client = webhook::client(crate::tls::ca_file(&hook.ca_file))?;
                Ok((hook.clone(), client))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            store: state.store.clone(),
            metrics: state.metrics.clone(),
            node: uuid::Uuid::new_v4().to_string(),
            smtp,
            webhooks,
            settings: config.notifications.clone(),
            public_url: config.public_url.clone(),
        })
    }

    fn retry_policy(&self) -> RetryPolicy {
        let span = |duration: Duration| {
            chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::hours(24))
        };
        RetryPolicy {
            first: span(self.settings.retry_after),
            give_up_after: span(self.settings.give_up_after),
        }
    }

    /// The deliveries `notice` gets under this node's configuration.
    fn plan(&self, notice: &StoredNotice) -> Vec<NewDelivery> {
        let mut deliveries = Vec::new();
        if let (Some(_), Some(_), Some(user)) = (&self.smtp, &notice.mail, &notice.user) {
            deliveries.push(NewDelivery {
                id: uuid::Uuid::new_v4().to_string(),
                channel: Channel::Email,
                destination: user.clone(),
            });
        }
        for (hook, _) in self
            .webhooks
            .iter()
            .filter(|(hook, _)| hook.wants(notice.event))
        {
            deliveries.push(NewDelivery {
                id: uuid::Uuid::new_v4().to_string(),
                channel: Channel::Webhook,
                destination: hook.url.clone(),
            });
        }
        deliveries
    }

    /// Whether anything here takes expiry notices (else nobody needs them looked for).
    fn wants_expiry_notices(&self) -> bool {
        self.smtp.is_some()
            || self.webhooks.iter().any(|(hook, _)| {
                hook.wants(Event::TokenExpiring) || hook.wants(Event::TokenExpired)
            })
    }

    /// Adds the expiry notices due at `now`; how many were new.
    pub async fn scan_expiry(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        if !self.wants_expiry_notices() {
            return Ok(0);
        }
        let from = now - chrono::Duration::days(notices::EXPIRED_NOTICE_DAYS);
        let until = now + chrono::Duration::days(notices::FIRST_EXPIRY_NOTICE_DAYS);
        let tokens = self.store.tokens_expiring_between(from, until).await?;
        let due: Vec<_> = tokens
            .iter()
            .filter_map(|token| notices::expiry_notice(token, now))
            .collect();
        self.store.add_notices(&due).await
    }

    /// Plans every new notice, then sends every due delivery, until there is nothing left
    /// or `stop` is set; how many deliveries were attempted.
    pub async fn work(&self, stop: &watch::Receiver<bool>) -> Result<u64, StoreError> {
        let plan = |notice: &StoredNotice| self.plan(notice);
        while self
            .store
            .plan_deliveries(Utc::now(), PLAN_BATCH, &plan)
            .await?
            > 0
        {
            if *stop.borrow() {
                return Ok(0);
            }
        }
        let mut attempted = 0;
        while !*stop.borrow() {
            let now = Utc::now();
            let lease = chrono::Duration::from_std(self.settings.lease)
                .unwrap_or(chrono::Duration::minutes(2));
            let Some(delivery) = self
                .store
                .claim_delivery(&self.node, now, now + lease)
                .await?
            else {
                break;
            };
            self.deliver(&delivery).await?;
            attempted += 1;
        }
        Ok(attempted)
    }

    async fn deliver(&self, delivery: &Delivery) -> Result<(), StoreError> {
        // The claim lasts `lease`: a send that took longer could be sent again by another
        // node meanwhile, so it is cut at half the lease and tried again later.
        let sending = async {
            match delivery.channel {
                Channel::Email => self.mail(delivery).await,
                Channel::Webhook => Ok(self.webhook(delivery).await),
            }
        };
        let outcome = match tokio::time::timeout(self.settings.lease / 2, sending).await {
            Ok(outcome) => outcome?,
            Err(_) => self.failed(delivery, "timed out".into(), false),
        };
        let label = match &outcome {
            Outcome::Sent => "sent",
            Outcome::Skipped(_) => "skipped",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed(_) => "failed",
        };
        self.metrics.delivery(delivery.channel.as_str(), label);
        if let Outcome::Retry { error, .. } | Outcome::Failed(error) = &outcome {
            tracing::warn!(
                delivery = %delivery.id,
                event = %delivery.notice.event,
                channel = delivery.channel.as_str(),
                attempts = delivery.attempts,
                outcome = label,
                %error,
                "a notification could not be delivered"
            );
        }
        self.store
            .finish_delivery(&delivery.id, &self.node, Utc::now(), &outcome)
            .await?;
        Ok(())
    }

    fn failed(&self, delivery: &Delivery, error: String, permanent: bool) -> Outcome {
        let error: String = error.chars().take(ERROR_LENGTH).collect();
        self.retry_policy().after_failure(
            delivery.attempts,
            delivery.created_at,
            Utc::now(),
            error,
            permanent,
        )
    }

    async fn mail(&self, delivery: &Delivery) -> Result<Outcome, StoreError> {
        let Some((smtp, transport)) = &self.smtp else {
            return Ok(Outcome::Skipped("no mail server is configured".into()));
        };
        let Some(user) = self.store.user(&delivery.destination).await? else {
            return Ok(Outcome::Skipped("the user no longer exists".into()));
        };
        let Some(address) = user.email.as_deref().filter(|email| !email.is_empty()) else {
            return Ok(Outcome::Skipped("the user has no e-mail address".into()));
        };
        let to = (user.display_name.as_str(), address);
        Ok(
            match mail::send(transport, smtp, &self.public_url, &delivery.notice, to).await {
                Ok(()) => Outcome::Sent,
                Err(error) => self.failed(delivery, error.message, error.permanent),
            },
        )
    }

    async fn webhook(&self, delivery: &Delivery) -> Outcome {
        let hook = self
            .webhooks
            .iter()
            .find(|(hook, _)| hook.url == delivery.destination);
        let Some((hook, client)) = hook else {
            return Outcome::Skipped("the webhook is no longer configured".into());
        };
        let Some(secret) = &hook.secret else {
            return Outcome::Skipped("the webhook has no secret".into());
        };
        match webhook::send(client, &hook.url, secret, &delivery.notice, &delivery.id).await {
            Ok(()) => Outcome::Sent,
            Err(error) => self.failed(delivery, error, false),
        }
    }

    /// Refreshes the outbox gauges and prunes settled notices past `notifications.keep`.
    async fn housekeeping(&self) -> Result<(), StoreError> {
        let counts = self.store.count_deliveries().await?;
        for state in [
            DeliveryState::Pending,
            DeliveryState::Sent,
            DeliveryState::Failed,
            DeliveryState::Skipped,
        ] {
            let count = counts
                .iter()
                .find(|(counted, _)| *counted == state)
                .map_or(0, |(_, count)| *count);
            self.metrics.outbox(state.as_str(), count);
        }
        let keep =
            chrono::Duration::from_std(self.settings.keep).unwrap_or(chrono::Duration::days(30));
        self.store.prune_notices(Utc::now() - keep).await?;
        Ok(())
    }
}

/// Runs the notifier of this node until `stop` is set. A store outage is logged and tried
/// again at the next poll; nothing is lost, since every notice waits in the outbox.
pub async fn run(state: SharedState, mut stop: watch::Receiver<bool>) {
    let notifier = match Notifier::new(&state) {
        Ok(notifier) => notifier,
        Err(problem) => {
            tracing::error!(%problem, "notifications are off");
            return;
        }
    };
    let mut next_scan = Instant::now();
    let mut next_housekeeping = Instant::now();
    loop {
        if Instant::now() >= next_scan {
            match notifier.scan_expiry(Utc::now()).await {
                Ok(_) => next_scan = Instant::now() + notifier.settings.expiry_scan,
                Err(error) => tracing::warn!(%error, "looking for expiry notices failed"),
            }
        }
        let attempted = notifier.work(&stop).await.unwrap_or_else(|error| {
            tracing::warn!(%error, "working the notification outbox failed");
            0
        });
        if attempted > 0 || Instant::now() >= next_housekeeping {
            next_housekeeping = Instant::now() + HOUSEKEEPING;
            if let Err(error) = notifier.housekeeping().await {
                tracing::warn!(%error, "outbox housekeeping failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(notifier.settings.poll) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

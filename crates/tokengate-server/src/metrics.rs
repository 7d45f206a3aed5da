//! Prometheus metrics of one gateway instance (no global registry, so every test app has its
//! own): decisions by reason, authentication latency, cache hits, upstream status classes,
//! notification deliveries.
//! They are served on their own listener (`metrics_listen`, [`serve`]) as the Prometheus text
//! format 0.0.4 — never on the public port, where decision counts by reason would tell an
//! attacker which guesses work.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Arc, OnceLock};
use tokengate_core::{Decision, Reason, Via};

/// The content type of [`Metrics::render`]: the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    result: &'static str,
    reason: &'static str,
    via: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    route: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyslogDropLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    state: &'static str,
}

/// One route's upstream answers by status class (`tokengate_upstream_responses_total`),
/// counted through handles taken once, like the other series.
pub struct UpstreamCounters {
    family: Family<UpstreamLabels, Counter>,
    route: String,
    handles: [OnceLock<Counter>; 6],
}

impl UpstreamCounters {
    /// `status` None = no response (connection refused, TLS failure, timeout).
    pub fn count(&self, status: Option<u16>) {
        let (index, class) = match status {
            Some(100..=199) => (0, "1xx"),
            Some(200..=299) => (1, "2xx"),
            Some(300..=399) => (2, "3xx"),
            Some(400..=499) => (3, "4xx"),
            Some(_) => (4, "5xx"),
            None => (5, "error"),
        };
        self.handles[index]
            .get_or_init(|| {
                let labels = UpstreamLabels {
                    route: self.route.clone(),
                    class,
                };
                Counter::clone(&self.family.get_or_create(&labels))
            })
            .inc();
    }
}

pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    auth_seconds: Histogram,
    cache: Family<CacheLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    outbox: Family<OutboxLabels, Gauge>,
    auth_events_dropped: Counter,
    syslog_sent: Counter,
    syslog_dropped: Family<SyslogDropLabels, Counter>,
    /// Handles to the series above, each taken from its family on first use (so the exposition
    /// is unchanged: a series appears once it counts) and then counted without hashing labels
    /// or taking the family's lock on every request.
    handles: Handles,
}

#[derive(Default)]
struct Handles {
    allowed: [OnceLock<Counter>; 4],
    denied: [OnceLock<Counter>; Reason::ALL.len()],
    cache_hit: OnceLock<Counter>,
    cache_miss: OnceLock<Counter>,
}

fn reason_index(reason: Reason) -> usize {
    match reason {
        Reason::IpNotAllowed => 0,
        Reason::MissingCredentials => 1,
        Reason::MalformedCredentials => 2,
        Reason::TokenExpired => 3,
        Reason::UserDisabled => 4,
        Reason::TokensNotPermitted => 5,
        Reason::InvalidCredentials => 6,
        Reason::PasswordAuthDisabled => 7,
        Reason::UserLocked => 8,
        Reason::TooManyFailures => 9,
        Reason::Unavailable => 10,
        Reason::DirectoryUnavailable => 11,
        Reason::TokenIpNotAllowed => 12,
        Reason::TokenScopeDenied => 13,
    }
}

fn via_index(via: Via) -> usize {
    match via {
        Via::Token => 0,
        Via::Password => 1,
        Via::Anonymous => 2,
        Via::Session => 3,
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tokengate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Authentication decisions by result and reason",
            decisions.clone(),
        );
        let buckets = [
            0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
        ];
        let auth_seconds = Histogram::new(buckets);
        registry.register(
            "auth_duration_seconds",
            "Time to reach an authentication decision",
            auth_seconds.clone(),
        );
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "token_cache_lookups",
            "Token cache lookups by result (hit or miss)",
            cache.clone(),
        );
        let upstream = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "upstream_responses",
            "Upstream responses by status class",
            upstream.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notification_attempts",
            "Notification delivery attempts by channel and outcome (sent, retry, failed, skipped)",
            deliveries.clone(),
        );
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "notification_deliveries",
            "Notification deliveries in the outbox by state (all nodes)",
            outbox.clone(),
        );
        let auth_events_dropped = Counter::default();
        registry.register(
            "auth_events_dropped",
            "Authentication events dropped because too many waited to be written",
            auth_events_dropped.clone(),
        );
        let syslog_sent = Counter::default();
        registry.register(
            "syslog_sent",
            "Audit records written to the syslog receiver",
            syslog_sent.clone(),
        );
        let syslog_dropped = Family::<SyslogDropLabels, Counter>::default();
        registry.register(
            "syslog_dropped",
            "Audit records not forwarded to syslog, by reason (queue_full, too_large)",
            syslog_dropped.clone(),
        );
        Self {
            registry,
            auth_events_dropped,
            decisions,
            auth_seconds,
            cache,
            upstream,
            deliveries,
            outbox,
            syslog_sent,
            syslog_dropped,
            handles: Handles::default(),
        }
    }

    pub fn decision(&self, decision: &Decision, seconds: f64) {
        let labels = || match decision.identity() {
            Some(identity) => DecisionLabels {
                result: "allowed",
                reason: "",
                via: identity.via.as_str(),
            },
            None => DecisionLabels {
                result: "denied",
                reason: decision.reason().map_or("", |reason| reason.code()),
                via: "",
            },
        };
        let slot = match decision.identity() {
            Some(identity) => Some(&self.handles.allowed[via_index(identity.via)]),
            None => decision
                .reason()
                .map(|reason| &self.handles.denied[reason_index(reason)]),
        };
        match slot {
            Some(slot) => slot
                .get_or_init(|| Counter::clone(&self.decisions.get_or_create(&labels())))
                .inc(),
            None => self.decisions.get_or_create(&labels()).inc(),
        };
        self.auth_seconds.observe(seconds);
    }

    fn cached(
        &self,
        slot: &OnceLock<Counter>,
        family: &Family<CacheLabels, Counter>,
        result: &'static str,
    ) {
        slot.get_or_init(|| Counter::clone(&family.get_or_create(&CacheLabels { result })))
            .inc();
    }

    pub fn cache_hit(&self) {
        self.cached(&self.handles.cache_hit, &self.cache, "hit");
    }

    pub fn cache_miss(&self) {
        self.cached(&self.handles.cache_miss, &self.cache, "miss");
    }

    /// An authentication event could not be kept (`crate::auth_events::MAX_PENDING`).
    pub fn auth_event_dropped(&self) {
        self.auth_events_dropped.inc();
    }

    /// One attempt to deliver a notice over `channel` ended with `outcome`.
    pub fn delivery(&self, channel: &'static str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { channel, outcome })
            .inc();
    }

    /// How many deliveries the outbox holds in `state`.
    pub fn outbox(&self, state: &'static str, count: u64) {
        self.outbox
            .get_or_create(&OutboxLabels { state })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// One audit record written to the syslog receiver.
    pub fn syslog_sent(&self) {
        self.syslog_sent.inc();
    }

    /// `count` audit records not forwarded to syslog for `reason`; 0 shows the series.
    pub fn syslog_dropped(&self, reason: &'static str, count: u64) {
        self.syslog_dropped
            .get_or_create(&SyslogDropLabels { reason })
            .inc_by(count);
    }

    /// The counters of `route`'s upstream answers.
    pub fn upstream_counters(&self, route: &str) -> UpstreamCounters {
        UpstreamCounters {
            family: self.upstream.clone(),
            route: route.to_owned(),
            handles: Default::default(),
        }
    }

    /// The Prometheus text exposition, format 0.0.4 (see [`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        openmetrics_to_text(&text)
    }
}

/// prometheus-client writes OpenMetrics, where a counter family `x` is declared as
/// `# TYPE x counter` and its samples are `x_total`, and the text ends with `# EOF`. A 0.0.4
/// parser (Prometheus scraping `text/plain; version=0.0.4`, `promtool check metrics`) matches
/// the TYPE line's name against the sample's, so there the family must be `x_total`. This
/// renames counter families and drops the OpenMetrics-only lines (`# EOF`, `# UNIT`).
fn openmetrics_to_text(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut text = String::with_capacity(openmetrics.len() + 64);
    for (index, line) in lines.iter().enumerate() {
        if *line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let counter_family = |name: &str| {
            [Some(line), lines.get(index + 1)]
                .into_iter()
                .flatten()
                .any(|candidate| *candidate == format!("# TYPE {name} counter"))
        };
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            (counter_family(name) && !name.ends_with("_total"))
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(renamed) => text.push_str(renamed.trim_end()),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// Serves `GET /metrics` on `listener` until `stop` turns true; any other path is a 404 JSON
/// error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use axum::http::header;
    use axum::response::IntoResponse;
    let app =
        axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let metrics = metrics.clone();
                    async move {
                        ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
                    }
                }),
            )
            .fallback(|| async {
                crate::error::ApiError::not_found("This listener serves only GET /metrics.")
            });
    let stopped = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stopped)
        .await
    {
        tracing::warn!(%error, "the metrics listener stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use tokengate_core::decision::{Identity, Outcome};

    fn decision(outcome: Outcome) -> Decision {
        Decision {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            outcome,
            steps: Vec::new(),
            effects: Vec::new(),
        }
    }

    #[test]
    fn series_appear_when_first_counted_and_count_every_call() {
        let metrics = Metrics::new();
        let before = metrics.render();
        assert!(!before.contains("tokengate_decisions_total{"), "{before}");
        let allowed = decision(Outcome::Allowed(Identity::of(
            &tokengate_core::User::named("alice"),
            Via::Token,
            Some("id".into()),
        )));
        let denied = decision(Outcome::Denied {
            reason: Reason::TokenExpired,
            retry_after_seconds: None,
        });
        for _ in 0..3 {
            metrics.decision(&allowed, 0.000_01);
        }
        metrics.decision(&denied, 0.000_01);
        metrics.cache_hit();
        metrics.cache_hit();
        metrics.cache_miss();
        let jira = metrics.upstream_counters("jira");
        jira.count(Some(204));
        jira.count(None);
        let text = metrics.render();
        for line in [
            r#"tokengate_decisions_total{result="allowed",reason="",via="token"} 3"#,
            r#"tokengate_decisions_total{result="denied",reason="token_expired",via=""} 1"#,
            r#"tokengate_token_cache_lookups_total{result="hit"} 2"#,
            r#"tokengate_token_cache_lookups_total{result="miss"} 1"#,
            r#"tokengate_upstream_responses_total{route="jira",class="2xx"} 1"#,
            r#"tokengate_upstream_responses_total{route="jira",class="error"} 1"#,
            "tokengate_auth_duration_seconds_count 4",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        assert!(!text.contains("via=\"password\""), "{text}");
        assert!(!text.contains("class=\"5xx\""), "{text}");
    }
}

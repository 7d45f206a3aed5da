//! Prometheus metrics of one gateway instance (no global registry, so every test app has its
//! own): decisions by reason, authentication latency, cache hits, upstream status classes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokengate_core::Decision;

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
    class: &'static str,
}

pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    auth_seconds: Histogram,
    cache: Family<CacheLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
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
        Self {
            registry,
            decisions,
            auth_seconds,
            cache,
            upstream,
        }
    }

    pub fn decision(&self, decision: &Decision, seconds: f64) {
        let labels = match decision.identity() {
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
        self.decisions.get_or_create(&labels).inc();
        self.auth_seconds.observe(seconds);
    }

    pub fn cache_hit(&self) {
        self.cache
            .get_or_create(&CacheLabels { result: "hit" })
            .inc();
    }

    pub fn cache_miss(&self) {
        self.cache
            .get_or_create(&CacheLabels { result: "miss" })
            .inc();
    }

    /// `status` None = no response (connection refused, timeout).
    pub fn upstream(&self, status: Option<u16>) {
        let class = match status {
            Some(100..=199) => "1xx",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
            None => "error",
        };
        self.upstream.get_or_create(&UpstreamLabels { class }).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

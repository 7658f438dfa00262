//! Prometheus metrics. One registry per running instance; features add their own counters here
//! so `/metrics` shows everything in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/api/v1/documents/{id}`), never the raw path, so ids do not explode
    /// the label set; unmatched paths share the label `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// The outbox message kind: `webhook`, `notify` (fan-out), `email`, `sms`.
    pub channel: String,
    pub status: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Every metric the application exports.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<RequestLabels, Counter>,
    pub http_request_duration: HistogramFamily,
    /// Password and second-factor attempts by outcome.
    pub login_attempts: Family<ResultLabels, Counter>,
    /// Lockouts started, by what was locked (`account` or `ip`).
    pub lockouts: Family<KindLabels, Counter>,
    /// Vault operations by kind (`stored`, `deleted`).
    pub documents: Family<KindLabels, Counter>,
    /// Stored documents that failed authentication when read.
    pub documents_corrupted: Counter,
    /// Access-log entries waiting for the sequencer, and the age of the oldest (set at
    /// scrape time: a growing number or age means the sequencer is not running).
    pub access_log_pending: Gauge,
    pub access_log_oldest_pending_seconds: Gauge,
    /// Outbox messages waiting, given up on, and the age of the oldest waiting (scrape time).
    pub outbox_pending: Gauge,
    pub outbox_dead: Gauge,
    pub outbox_oldest_pending_seconds: Gauge,
    /// Outbox messages by channel and status (`pending`, `delivered`, `dead`; scrape time).
    pub outbox_messages: Family<ChannelLabels, Gauge>,
    /// Delivery attempts by channel and result (`sent`, `retried`, `failed`).
    pub outbox_attempts: Family<ChannelLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("congdanso");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            http_requests.clone(),
        );
        let http_request_duration: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route",
            http_request_duration.clone(),
        );
        let login_attempts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "login_attempts",
            "Password and second-factor attempts by outcome",
            login_attempts.clone(),
        );
        let lockouts = Family::<KindLabels, Counter>::default();
        registry.register(
            "lockouts",
            "Brute-force lockouts started, by account or client address",
            lockouts.clone(),
        );
        let documents = Family::<KindLabels, Counter>::default();
        registry.register("documents", "Vault operations by kind", documents.clone());
        let documents_corrupted = Counter::default();
        registry.register(
            "documents_corrupted",
            "Stored documents that failed authentication when read",
            documents_corrupted.clone(),
        );
        let access_log_pending = Gauge::default();
        registry.register(
            "access_log_pending",
            "Access-log entries written but not yet sequenced into the chain and tree",
            access_log_pending.clone(),
        );
        let access_log_oldest_pending_seconds = Gauge::default();
        registry.register(
            "access_log_oldest_pending_seconds",
            "Age of the oldest access-log entry waiting to be sequenced (0 when none)",
            access_log_oldest_pending_seconds.clone(),
        );
        let outbox_pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Outbox messages (webhooks) not yet delivered",
            outbox_pending.clone(),
        );
        let outbox_dead = Gauge::default();
        registry.register(
            "outbox_dead",
            "Outbox messages given up on (attempts exhausted, revoked credential, no key)",
            outbox_dead.clone(),
        );
        let outbox_oldest_pending_seconds = Gauge::default();
        registry.register(
            "outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox message (0 when none)",
            outbox_oldest_pending_seconds.clone(),
        );
        let outbox_messages = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "outbox_messages",
            "Outbox messages by channel and status",
            outbox_messages.clone(),
        );
        let outbox_attempts = Family::<ChannelLabels, Counter>::default();
        registry.register(
            "outbox_attempts",
            "Outbox delivery attempts by channel and result (sent, retried, failed)",
            outbox_attempts.clone(),
        );
        Self {
            registry,
            outbox_pending,
            outbox_dead,
            outbox_oldest_pending_seconds,
            access_log_pending,
            access_log_oldest_pending_seconds,
            http_requests,
            http_request_duration,
            login_attempts,
            lockouts,
            documents,
            documents_corrupted,
            outbox_messages,
            outbox_attempts,
        }
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.http_request_duration
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn record_login(&self, result: &str) {
        self.login_attempts
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn record_lockout(&self, kind: &str) {
        self.lockouts
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// One delivery attempt of a `channel` message: `sent`, `retried` or `failed`.
    pub fn record_delivery(&self, channel: &str, result: &str) {
        self.outbox_attempts
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
                status: result.to_owned(),
            })
            .inc();
    }

    pub fn record_document(&self, kind: &str) {
        self.documents
            .get_or_create(&KindLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status() {
        let metrics = Metrics::new();
        metrics.observe_request("GET", "/readyz", 200, 0.002);
        metrics.observe_request("GET", "/readyz", 200, 0.004);
        let text = metrics.render().unwrap();
        assert!(
            text.contains(
                r#"congdanso_http_requests_total{method="GET",route="/readyz",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains("congdanso_http_request_duration_seconds_bucket"));
    }
}

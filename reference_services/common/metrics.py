"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "altlas_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram("altlas_http_request_seconds", "HTTP request latency", ["method", "route"])
# Usage of the public API, by caller: `user:<name>`, `apikey:<id>`, or `anonymous` (no valid
# credential). The gateway names the caller; `harness report api-usage` reads these. One series
# per caller, route and status: bounded by the callers a deployment has.
API_REQUESTS = Counter(
    "altlas_api_requests_total",
    "API requests by caller, route and status",
    ["principal", "method", "route", "status"],
)
API_SECONDS = Histogram(
    "altlas_api_request_seconds",
    "API request latency by caller and route",
    ["principal", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MESSAGES = Counter(
    "altlas_messages_total",
    "Messages consumed, by outcome (ack, nak, dead_letter)",
    ["consumer", "outcome"],
)
# RED per consumer: rate and errors in MESSAGES; duration of every handling, by outcome; how
# many messages wait for the consumer (num_pending, as the last delivery saw it); how old an
# event is when it is handled (its `time` to now: the pipeline's lag at that hop); redeliveries.
HANDLER_SECONDS = Histogram(
    "altlas_handler_seconds", "Message handler latency, by outcome", ["consumer", "outcome"]
)
CONSUMER_PENDING = Gauge(
    "altlas_consumer_pending",
    "Messages waiting for the consumer (at its last delivery)",
    ["consumer"],
)
EVENT_AGE_SECONDS = Histogram(
    "altlas_event_age_seconds",
    "Age of an event when its consumer handles it (event time to handling)",
    ["consumer"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
REDELIVERIES = Counter(
    "altlas_redeliveries_total", "Messages handled again after an earlier delivery", ["consumer"]
)
# What the broker says, read by every service every stream_metrics_s (common/messaging.py):
# each series is the same from every service, so alerts take the max over them.
STREAM_MESSAGES = Gauge("altlas_stream_messages", "Messages a stream holds", ["stream"])
STREAM_BYTES = Gauge("altlas_stream_bytes", "Bytes a stream holds", ["stream"])
STREAM_MAX_BYTES = Gauge(
    "altlas_stream_max_bytes", "A stream's max_bytes limit (-1: none)", ["stream"]
)
STREAM_REPLICAS = Gauge(
    "altlas_stream_replicas", "Replicas a stream is configured with", ["stream"]
)
STREAM_REPLICAS_CURRENT = Gauge(
    "altlas_stream_replicas_current",
    "Replicas of a stream that are current: its leader (if it has one) and caught-up followers",
    ["stream"],
)
CONSUMER_NOT_DELIVERED = Gauge(
    "altlas_consumer_not_delivered", "Messages a durable has not delivered yet", ["consumer"]
)
CONSUMER_ACK_PENDING = Gauge(
    "altlas_consumer_ack_pending", "Messages a durable delivered and not yet acked", ["consumer"]
)
CONSUMER_REDELIVERED = Gauge(
    "altlas_consumer_redelivered", "Messages a durable delivered more than once", ["consumer"]
)
PUBLISHED = Counter("altlas_published_total", "Events published", ["subject"])
DEAD_LETTERS = Counter("altlas_dead_letters_total", "Messages sent to a DLQ", ["consumer"])
# One series per circuit breaker (values: resilience.STATE_VALUES). The owner binds it with
# Gauge.set_function so a scrape reads the breaker itself: open → half-open happens by time
# alone, with no call that could update a stored value.
CIRCUIT_STATE = Gauge(
    "altlas_circuit_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", ["name"]
)
# The gateway's outbox: rows accepted but not yet published (refreshed by the relay every few
# seconds). A backlog that grows means commands are accepted faster than they reach NATS.
OUTBOX_PENDING = Gauge("altlas_outbox_pending", "Outbox rows not yet published")
# The gateway's rate limiter: 1 while it limits per replica because its counter store is away.
RATE_LIMIT_DEGRADED = Gauge(
    "altlas_rate_limit_degraded",
    "1 while rate limits fall back to per-replica buckets, by limits (api, login)",
    ["limits"],
)
# The gateway's cache of archive answers (gateway/archive_cache.py): lookups by cache and
# outcome (hit, miss, bypass while it is not reading the archive's change events), and the
# stream sequence of the last change event this replica applied.
CACHE_LOOKUPS = Counter(
    "altlas_cache_lookups_total", "Cache lookups, by cache and outcome", ["cache", "outcome"]
)
CACHE_EVENT_SEQ = Gauge(
    "altlas_archive_cache_event_seq", "Stream sequence of the last archive change event applied"
)

"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "altlas_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram("altlas_http_request_seconds", "HTTP request latency", ["method", "route"])
MESSAGES = Counter(
    "altlas_messages_total",
    "Messages consumed, by outcome (ack, nak, dead_letter)",
    ["consumer", "outcome"],
)
HANDLER_SECONDS = Histogram("altlas_handler_seconds", "Message handler latency", ["consumer"])
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
    "altlas_rate_limit_degraded", "1 while rate limits fall back to per-replica buckets"
)

"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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

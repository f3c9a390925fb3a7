-- The trace context of the request that wrote an outbox row (W3C traceparent), so the relay's
-- publish, minutes later if need be, continues that request's trace (common/tracing.py).
ALTER TABLE outbox ADD COLUMN traceparent text;

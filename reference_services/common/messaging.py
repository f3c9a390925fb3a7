"""JetStream messaging: connect, provision the topology, publish, and run durable pull consumers.

Delivery is at-least-once; handlers must be idempotent. A handler's outcome decides the ack:
- returns normally → ACK;
- raises TransientError (or anything unexpected) → NAK with back-off, until `max_deliver`;
- the payload is not a valid event, or deliveries are exhausted → the message goes to
  `altlas.dlq.<consumer>` with the reason and is TERMinated, so it never blocks the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from reference_services.common import metrics, topology, tracing
from reference_services.common.errors import PermanentError, SchemaViolation, TransientError
from reference_services.common.events import decode, encode
from reference_services.common.logging import log_context
from reference_services.common.settings import ServiceSettings
from reference_services.common.tasks import really_cancelled

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 2.0

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Messaging:
    """One NATS connection with its JetStream context; an async context manager."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._consumers: list[Consumer] = []
        # Times the connection was lost (whoever must notice a gap, e.g. a cache, compares).
        self.disconnects = 0

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("messaging is not connected")
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def __aenter__(self) -> Messaging:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        async def _disconnected() -> None:
            self.disconnects += 1
            log.warning("disconnected from NATS")

        async def _reconnected() -> None:
            log.info("reconnected to NATS")

        async def _error(exc: Exception) -> None:
            log.debug("NATS client error: %s", exc)

        self._nc = await nats.connect(
            self.settings.nats_url,
            name=self.settings.service_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            allow_reconnect=True,
            disconnected_cb=_disconnected,
            reconnected_cb=_reconnected,
            error_cb=_error,
        )
        self._js = self._nc.jetstream(timeout=5)
        if self.settings.provision_topology:
            await provision(self._js, self.settings)

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        if self._nc is not None and not self._nc.is_closed:
            # Drain flushes what was published; bounded, because nats-py's drain of a pull
            # subscription can wait forever for a fetch reply nobody will read (the runner hung
            # here until its SIGKILL). Closing after that loses nothing: every in-flight message
            # was acked or NAKed above, and unacked ones are redelivered.
            try:
                await asyncio.wait_for(self._nc.drain(), timeout=DRAIN_TIMEOUT_S)
            except Exception as exc:  # includes the timeout
                log.warning("NATS drain did not finish (%s); closing the connection", exc)
                with contextlib.suppress(Exception):
                    await self._nc.close()
        self._nc = None
        self._js = None

    async def ready(self) -> bool:
        """Connected and JetStream answers."""
        if not self.connected:
            return False
        try:
            await self.js.stream_info(topology.STREAM)
        except Exception:
            return False
        return True

    async def publish(
        self,
        subject: str,
        envelope: dict[str, Any],
        timeout: float = 5.0,
        *,
        traceparent: str | None = None,
    ) -> None:
        """Publish with Nats-Msg-Id = the event id and the trace context (`traceparent`, or the
        current span's); raises TransientError when not acknowledged."""
        parent = {"traceparent": traceparent} if traceparent else None
        with tracing.span(
            f"publish {subject}",
            kind=SpanKind.PRODUCER,
            parent_headers=parent,
            attributes={
                tracing.COMMAND_ID: str(envelope.get("subject", "")),
                "messaging.system": "nats",
                "messaging.destination.name": subject,
            },
        ) as current:
            headers = tracing.inject_headers({"Nats-Msg-Id": envelope["id"]})
            try:
                await self.js.publish(
                    subject, encode(envelope), timeout=timeout, headers=dict(headers)
                )
            except Exception as exc:
                tracing.fail(current, exc)
                raise TransientError(
                    f"publish to {subject} failed: {type(exc).__name__}: {exc}"
                ) from exc
        metrics.PUBLISHED.labels(subject).inc()

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 1.0,
    ) -> Msg:
        """A core NATS request (a JetStream API call, a counter increment); TransientError when
        there is no connection or no answer in time."""
        if self._nc is None or not self._nc.is_connected:
            raise TransientError("not connected to NATS")
        try:
            return await self._nc.request(subject, payload, timeout=timeout, headers=headers)
        except Exception as exc:
            raise TransientError(
                f"request to {subject} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def consume(self, spec: topology.ConsumerSpec, handler: Handler) -> Consumer:
        consumer = Consumer(self, spec, handler)
        self._consumers.append(consumer)
        consumer.start()
        return consumer


def consumer_config(spec: topology.ConsumerSpec, settings: ServiceSettings) -> ConsumerConfig:
    subjects = list(spec.filter_subjects)
    return ConsumerConfig(
        durable_name=spec.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        max_deliver=settings.max_deliver,
        ack_wait=settings.ack_wait_s,
        max_ack_pending=1000,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=subjects if len(subjects) > 1 else None,
    )


async def provision(js: JetStreamContext, settings: ServiceSettings) -> None:
    """Create or update the streams and every durable consumer; safe to run concurrently."""
    streams = [
        StreamConfig(
            name=topology.STREAM,
            subjects=topology.STREAM_SUBJECTS,
            storage=StorageType.FILE,
            duplicate_window=topology.DUPLICATE_WINDOW_S,
        ),
        StreamConfig(
            name=topology.DLQ_STREAM,
            subjects=topology.DLQ_SUBJECTS,
            storage=StorageType.FILE,
            duplicate_window=topology.DUPLICATE_WINDOW_S,
        ),
    ]
    for config in streams:
        try:
            await js.stream_info(str(config.name))
            await js.update_stream(config)
        except NotFoundError:
            with contextlib.suppress(Exception):  # another replica may have won the race
                await js.add_stream(config)
    for spec in topology.CONSUMERS:
        # add_consumer creates, or updates an existing durable to this config.
        await js.add_consumer(topology.STREAM, consumer_config(spec, settings))


class Consumer:
    """A durable pull consumer running `handler` on batches of messages."""

    def __init__(self, messaging: Messaging, spec: topology.ConsumerSpec, handler: Handler) -> None:
        self.messaging = messaging
        self.spec = spec
        self.handler = handler
        self.settings = messaging.settings
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.spec.durable}")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A consumer loop must only end on stop(); anything else is logged and restarted."""
        if self._stopping.is_set():
            return
        how = "was cancelled" if task.cancelled() else f"crashed: {task.exception()!r}"
        log.error("consumer %s %s; restarting it", self.spec.durable, how, exc_info=None)
        self.start()

    async def stop(self) -> None:
        """Stop fetching; in-flight messages get the grace period, then are NAKed."""
        self._stopping.set()
        if self._inflight:
            _done, pending = await asyncio.wait(
                set(self._inflight), timeout=self.settings.shutdown_grace_s
            )
            for task in pending:
                task.cancel()  # _handle NAKs on cancellation
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            # A pull subscription left to the connection's drain can hold it up for good.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def _run(self) -> None:
        js = self.messaging.js
        sub = None
        while not self._stopping.is_set():
            try:
                if sub is None:
                    sub = await js.pull_subscribe_bind(self.spec.durable, stream=topology.STREAM)
                    self._sub = sub
                msgs = await sub.fetch(self.settings.consumer_batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                if really_cancelled():
                    raise
                # nats-py's fetch can leak a CancelledError from its internal wait_for when a
                # timeout and a message race; that must not end the consumer.
                log.debug("consumer %s: spurious cancellation in fetch", self.spec.durable)
                continue
            except Exception as exc:
                log.warning("consumer %s: fetch failed (%s); retrying", self.spec.durable, exc)
                sub = None if isinstance(exc, NotFoundError) else sub
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=0.5)
                continue
            if not msgs:  # fetch may return nothing (a status message ended the batch)
                continue
            tasks = [asyncio.create_task(self._handle(m)) for m in msgs]
            self._inflight.update(tasks)
            for t in tasks:
                t.add_done_callback(self._inflight.discard)
            await asyncio.wait(tasks)
            for t in tasks:
                if not t.cancelled() and t.exception() is not None:
                    log.error("consumer %s: handler crashed: %r", self.spec.durable, t.exception())

    async def _handle(self, msg: Msg) -> None:
        started = time.perf_counter()
        durable = self.spec.durable
        deliveries = msg.metadata.num_delivered or 1
        if msg.metadata.num_pending is not None:
            metrics.CONSUMER_PENDING.labels(durable).set(msg.metadata.num_pending)
        if deliveries > 1:
            metrics.REDELIVERIES.labels(durable).inc()
        outcome = "nak"  # what an exception or a cancellation escaping the handling means
        try:
            outcome = await self._handle_one(msg, deliveries)
        finally:
            metrics.HANDLER_SECONDS.labels(durable, outcome).observe(time.perf_counter() - started)

    async def _handle_one(self, msg: Msg, deliveries: int) -> str:
        """Handle one delivery; the outcome (ack, nak, dead_letter) for the metrics."""
        try:
            envelope = decode(msg.data)
        except (ValueError, SchemaViolation) as exc:
            return await self._dead_letter(msg, f"invalid payload: {exc}", deliveries)
        _observe_age(self.spec.durable, envelope.get("time"))
        with (
            log_context(command_id=envelope["subject"], correlation_id=envelope["correlation_id"]),
            tracing.span(
                f"consume {self.spec.durable}",
                kind=SpanKind.CONSUMER,
                parent_headers=msg.headers or {},
                attributes={
                    tracing.COMMAND_ID: str(envelope["subject"]),
                    "messaging.system": "nats",
                    "messaging.destination.name": msg.subject,
                    "messaging.delivery": deliveries,
                },
            ),
        ):
            heartbeat = asyncio.create_task(self._keep_alive(msg))
            try:
                await self.handler(envelope)
            except asyncio.CancelledError:
                await _safe(msg.nak())
                metrics.MESSAGES.labels(self.spec.durable, "nak").inc()
                raise
            except PermanentError as exc:
                return await self._dead_letter(msg, f"permanent error: {exc}", deliveries)
            except Exception as exc:
                transient = isinstance(exc, TransientError)
                if deliveries >= self.settings.max_deliver:
                    return await self._dead_letter(
                        msg, f"deliveries exhausted ({deliveries}); last error: {exc}", deliveries
                    )
                backoff = self.settings.nak_backoff_s
                delay = backoff[min(deliveries, len(backoff)) - 1] if backoff else 0
                log.log(
                    logging.WARNING if transient else logging.ERROR,
                    "handler failed (delivery %d/%d), NAK with %.1fs delay: %s",
                    deliveries,
                    self.settings.max_deliver,
                    delay,
                    exc,
                    exc_info=not transient,
                )
                await _safe(msg.nak(delay=delay))
                metrics.MESSAGES.labels(self.spec.durable, "nak").inc()
                return "nak"
            finally:
                heartbeat.cancel()
            await _safe(msg.ack())
            metrics.MESSAGES.labels(self.spec.durable, "ack").inc()
            return "ack"

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream the message is still being worked on, so ack_wait can stay short."""
        while True:
            await asyncio.sleep(self.settings.ack_wait_s / 3)
            await _safe(msg.in_progress())

    async def _dead_letter(self, msg: Msg, reason: str, deliveries: int) -> str:
        seq = msg.metadata.sequence.stream
        record = {
            "consumer": self.spec.durable,
            "reason": reason,
            "subject": msg.subject,
            "stream_sequence": seq,
            "deliveries": deliveries,
            "payload": msg.data.decode("utf-8", errors="replace"),
        }
        log.error("dead-lettering message %s from %s: %s", seq, msg.subject, reason)
        try:
            await self.messaging.js.publish(
                topology.dlq_subject(self.spec.durable),
                json.dumps(record, ensure_ascii=False).encode(),
                headers={
                    "Nats-Msg-Id": f"dlq-{self.spec.durable}-{seq}",
                    "Altlas-Dlq-Reason": reason[:500].replace("\n", " "),
                },
            )
        except Exception as exc:
            # Not acknowledged by the DLQ: leave the message for redelivery rather than lose it.
            log.error("DLQ publish failed (%s); NAKing message %s", exc, seq)
            await _safe(msg.nak(delay=1.0))
            metrics.MESSAGES.labels(self.spec.durable, "nak").inc()
            return "nak"
        await _safe(msg.term())
        metrics.MESSAGES.labels(self.spec.durable, "dead_letter").inc()
        metrics.DEAD_LETTERS.labels(self.spec.durable).inc()
        return "dead_letter"


def _observe_age(consumer: str, sent: object) -> None:
    """How old the event is now (its `time`, set when it was built, to this handling)."""
    if not isinstance(sent, str):
        return
    try:
        at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
    except ValueError:
        return
    age = (datetime.now(UTC) - at).total_seconds()
    metrics.EVENT_AGE_SECONDS.labels(consumer).observe(max(age, 0.0))


async def _safe(op: Awaitable[None]) -> None:
    """Acks can fail when the connection drops; redelivery then covers us."""
    try:
        await op
    except Exception as exc:
        log.warning("ack/nak failed: %s", exc)

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
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
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


class Requester(Protocol):
    """A core NATS request (Messaging.request, or a test double)."""

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 1.0,
    ) -> Msg: ...


class Messaging:
    """One NATS connection with its JetStream context; an async context manager."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._consumers: list[Consumer] = []
        self._handlers: dict[str, tuple[topology.ConsumerSpec, Handler]] = {}
        self._stream_watch: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
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
        self._closing.clear()

        async def _disconnected() -> None:
            self.disconnects += 1
            log.warning("disconnected from NATS")

        async def _reconnected() -> None:
            log.info("reconnected to NATS")

        async def _error(exc: Exception) -> None:
            log.debug("NATS client error: %s", exc)

        # One server, or a cluster's servers comma-separated (the client fails over).
        servers = [u.strip() for u in self.settings.nats_url.split(",") if u.strip()]
        self._nc = await nats.connect(
            servers,
            name=self.settings.service_name,
            **connect_security(self.settings),
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            # A frozen server holds its sockets open: without pings a client waits on it for
            # minutes (nats-py's default is one ping every 120 s). Three unanswered pings, one
            # every 3 s, and it fails over to another node of the cluster.
            ping_interval=3,
            max_outstanding_pings=3,
            allow_reconnect=True,
            disconnected_cb=_disconnected,
            reconnected_cb=_reconnected,
            error_cb=_error,
        )
        self._js = self._nc.jetstream(timeout=5)
        if self.settings.provision_topology:
            await provision(self, self.settings)

    async def close(self) -> None:
        # The watch loops end on `_closing`, not only on cancellation: Python 3.11's wait_for
        # (inside nats-py's request) can swallow a cancellation that races its reply, and a
        # loop that lost its cancellation would keep close() waiting for ever.
        self._closing.set()
        watches = {self._stream_watch} if self._stream_watch is not None else set()
        for watch in watches:
            watch.cancel()
        if watches:
            _done, stuck = await asyncio.wait(watches, timeout=DRAIN_TIMEOUT_S)
            for watch in stuck:
                log.warning("%s did not stop in %.0f s", watch.get_name(), DRAIN_TIMEOUT_S)
        self._stream_watch = None
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
        """Run `handler` on `spec`'s durable (created or updated to its declared config
        first), and on its redrive consumer: dead letters sent back to it and replays
        (`harness streams dlq redrive`, `harness streams replay`)."""
        consumer = self._run_consumer(spec, handler)
        self._handlers[spec.durable] = (spec, handler)
        redrive = topology.redrive_of(spec)
        if redrive is not None:
            self._run_consumer(redrive, handler)
        if self._stream_watch is None and self.settings.stream_metrics_s > 0:
            self._stream_watch = asyncio.create_task(self._watch_streams(), name="stream-watch")
        return consumer

    async def _watch_streams(self) -> None:
        """Every stream_metrics_s, the pipeline streams' and this service's durables' state
        as the broker reports it, into /metrics (alerts: a stream near its limit, one without
        a quorum, a durable falling behind)."""
        while not self._closing.is_set():
            try:
                await self.read_stream_metrics()
            except Exception as exc:
                log.debug("stream metrics not read: %s", exc)
            await self._pause(self.settings.stream_metrics_s)

    async def read_stream_metrics(self) -> None:
        for name in topology.PIPELINE_STREAMS:
            info = await _api(self, f"$JS.API.STREAM.INFO.{name}", None)
            if "error" in info:
                continue
            config, state = info.get("config", {}), info.get("state", {})
            metrics.STREAM_MESSAGES.labels(name).set(int(state.get("messages", 0)))
            metrics.STREAM_BYTES.labels(name).set(int(state.get("bytes", 0)))
            metrics.STREAM_MAX_BYTES.labels(name).set(int(config.get("max_bytes", -1)))
            metrics.STREAM_REPLICAS.labels(name).set(int(config.get("num_replicas", 1)))
            group = info.get("cluster") or {}
            followers = [r for r in group.get("replicas") or [] if r.get("current")]
            current = len(followers) + (1 if group.get("leader") else 0)
            # A single server reports itself as the leader; no cluster block: it answers.
            metrics.STREAM_REPLICAS_CURRENT.labels(name).set(current if group else 1)
        for spec, _handler in self._handlers.values():
            for durable in filter(None, (spec, topology.redrive_of(spec))):
                found = await _api(
                    self, f"$JS.API.CONSUMER.INFO.{durable.stream}.{durable.durable}", None
                )
                if "error" in found:
                    continue
                label = durable.durable
                metrics.CONSUMER_NOT_DELIVERED.labels(label).set(int(found.get("num_pending", 0)))
                metrics.CONSUMER_ACK_PENDING.labels(label).set(int(found.get("num_ack_pending", 0)))
                metrics.CONSUMER_REDELIVERED.labels(label).set(int(found.get("num_redelivered", 0)))

    def _run_consumer(self, spec: topology.ConsumerSpec, handler: Handler) -> Consumer:
        consumer = Consumer(self, spec, handler)
        self._consumers.append(consumer)
        consumer.start()
        return consumer

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if the connection is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)


@dataclass(frozen=True)
class DeliveryPolicy:
    """A consumer's delivery limits: its declared ones, or the service's settings where set."""

    max_deliver: int
    ack_wait_s: float
    max_ack_pending: int
    backoff_s: tuple[float, ...]

    @classmethod
    def of(cls, spec: topology.ConsumerSpec, settings: ServiceSettings) -> DeliveryPolicy:
        return cls(
            max_deliver=settings.max_deliver or spec.max_deliver,
            ack_wait_s=settings.ack_wait_s or spec.ack_wait_s,
            max_ack_pending=spec.max_ack_pending,
            backoff_s=spec.backoff_s if settings.nak_backoff_s is None else settings.nak_backoff_s,
        )


def consumer_config(spec: topology.ConsumerSpec, settings: ServiceSettings) -> dict[str, Any]:
    """The `$JS.API.CONSUMER.CREATE` config of a declared durable (durations in nanoseconds)."""
    policy = DeliveryPolicy.of(spec, settings)
    subjects = list(spec.filter_subjects)
    config: dict[str, Any] = {
        "durable_name": spec.durable,
        "ack_policy": "explicit",
        "deliver_policy": "all",
        "max_deliver": policy.max_deliver,
        "ack_wait": int(policy.ack_wait_s * 1e9),
        "max_ack_pending": policy.max_ack_pending,
    }
    if len(subjects) == 1:
        config["filter_subject"] = subjects[0]
    else:
        config["filter_subjects"] = subjects
    return config


async def _api(requester: Requester, subject: str, body: dict[str, Any] | None) -> dict[str, Any]:
    reply = await requester.request(
        subject, json.dumps(body).encode() if body is not None else b"", timeout=5.0
    )
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


STREAM_NAME_IN_USE = 10058


async def ensure_stream(requester: Requester, config: dict[str, Any]) -> None:
    """Create a stream with `config` (a `$JS.API` body), or update it to that config;
    idempotent, and safe when several services race to create it."""
    name = config["name"]
    for verb in ("CREATE", "UPDATE"):
        answer = await _api(requester, f"$JS.API.STREAM.{verb}.{name}", config)
        if "error" not in answer:
            return
        if verb == "CREATE" and answer["error"].get("err_code") == STREAM_NAME_IN_USE:
            continue
        raise TransientError(f"stream {name}: {verb.lower()} refused: {answer['error']}")


async def provision(requester: Requester, settings: ServiceSettings) -> None:
    """Create or update the pipeline's streams (topology.json); safe to run concurrently.
    Each durable is created by the service that consumes it (`ensure_consumer`), so a
    service needs management rights on its own durables only."""
    for name in topology.PIPELINE_STREAMS:
        stream = topology.DECLARED.streams[name]
        await ensure_stream(requester, stream.api_config(settings.nats_replicas))


async def ensure_consumer(
    requester: Requester, spec: topology.ConsumerSpec, settings: ServiceSettings
) -> None:
    """Create a declared durable, or update an existing one to its declared config."""
    body = {"stream_name": spec.stream, "config": consumer_config(spec, settings)}
    answer = await _api(requester, consumer_create_subject(spec), body)
    if "error" in answer:
        raise TransientError(f"consumer {spec.durable}: create refused: {answer['error']}")


def consumer_create_subject(spec: topology.ConsumerSpec) -> str:
    """The API subject that creates or updates the durable. With one filter it names the
    filter too, and the server holds the config to it, so a user allowed exactly this subject
    cannot widen what its durable reads (docs/messaging.md, Security)."""
    base = f"$JS.API.CONSUMER.CREATE.{spec.stream}.{spec.durable}"
    return f"{base}.{spec.filter_subjects[0]}" if len(spec.filter_subjects) == 1 else base


def connect_security(settings: ServiceSettings) -> dict[str, Any]:
    """nats-py connect options for the service's NATS user and the CA of the server's TLS
    certificate (both optional: a server without accounts or TLS needs neither). With a
    user, replies come to the user's own inbox prefix, the only one it may subscribe to."""
    options: dict[str, Any] = {}
    if settings.nats_user:
        options["user"] = settings.nats_user
        options["inbox_prefix"] = f"_INBOX_{settings.nats_user}"
        if settings.nats_password is not None:
            options["password"] = settings.nats_password.get_secret_value()
    if settings.nats_tls_ca:
        context = ssl.create_default_context(cafile=settings.nats_tls_ca)
        options["tls"] = context
    return options


class Consumer:
    """A durable pull consumer running `handler` on batches of messages."""

    def __init__(
        self,
        messaging: Messaging,
        spec: topology.ConsumerSpec,
        handler: Handler,
    ) -> None:
        self.messaging = messaging
        self.spec = spec
        self.handler = handler
        self.settings = messaging.settings
        self.policy = DeliveryPolicy.of(spec, messaging.settings)
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
                    if self.spec.durable in topology.DECLARED.consumers:
                        await ensure_consumer(self.messaging, self.spec, self.settings)
                    sub = await js.pull_subscribe_bind(self.spec.durable, stream=self.spec.stream)
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
        """Handle one delivery; the outcome (ack, nak, dead_letter, skip) for the metrics."""
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
                if deliveries >= self.policy.max_deliver:
                    return await self._dead_letter(
                        msg, f"deliveries exhausted ({deliveries}); last error: {exc}", deliveries
                    )
                backoff = self.policy.backoff_s
                delay = backoff[min(deliveries, len(backoff)) - 1] if backoff else 0
                log.log(
                    logging.WARNING if transient else logging.ERROR,
                    "handler failed (delivery %d/%d), NAK with %.1fs delay: %s",
                    deliveries,
                    self.policy.max_deliver,
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
            await asyncio.sleep(self.policy.ack_wait_s / 3)
            await _safe(msg.in_progress())

    async def _dead_letter(self, msg: Msg, reason: str, deliveries: int) -> str:
        seq = msg.metadata.sequence.stream
        # Filed under the consumer whose handler gave up (a redrive or replay of it too), so
        # that a redrive after the fix sends it back there; `via` says which durable it was.
        owner = self.spec.handler_of or self.spec.durable
        record = {
            "consumer": owner,
            "via": self.spec.durable,
            "reason": reason,
            "subject": msg.subject,
            "stream": self.spec.stream,
            "stream_sequence": seq,
            "deliveries": deliveries,
            "payload": msg.data.decode("utf-8", errors="replace"),
        }
        log.error("dead-lettering message %s from %s: %s", seq, msg.subject, reason)
        try:
            await self.messaging.js.publish(
                topology.dlq_subject(owner),
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

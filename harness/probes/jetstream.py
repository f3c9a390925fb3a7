"""Operate a deployment's JetStream through its JSON API (`$JS.API.*` over core NATS).

Used by `harness streams`: list streams and consumers, lag, dead letters, a topology check
against the declaration, purge, replay of stored messages through a service's handler, and
redrive of dead letters. Nothing here imports the services: names and limits come from the
declared topology (harness.schemas.topology) and the server's answers.

Replay: the harness reads the stored messages through a durable of its own on the events stream
(its metadata names the durable whose handler runs them, `altlas_replay_of`, and the last stream
sequence covered, `altlas_replay_to_seq`) and republishes each to `altlas.redrive.<durable>`,
deduplicated by `replay-<name>-<seq>`; that durable's service handles them on its redrive
consumer (idempotent: the effects are not duplicated). So a service needs rights on its own
durables only. Redrive: a dead letter's original event published to `altlas.redrive.<consumer>`,
which only that consumer's redrive durable reads, then removed from the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client

from harness.checkers.topology import NS, REPLAY_OF, REPLAY_TO_SEQ
from harness.errors import HarnessError
from harness.infra.nats import NatsAccess

__all__ = [
    "DeadLetterRecord",
    "JetStreamAdmin",
    "ReplayProgress",
    "connect",
    "covers",
]

DLQ_STREAM = "ALTLAS_DLQ"
REDRIVE_STREAM = "ALTLAS_REDRIVE"
NO_MESSAGE = 10037  # $JS.API.STREAM.MSG.GET: no message found


def covers(pattern: str, subset: str) -> bool:
    """Whether every subject `subset` matches is matched by `pattern` (wildcards included)."""
    p, s = pattern.split("."), subset.split(".")
    for i, part in enumerate(p):
        if part == ">":
            return len(s) > i
        if i >= len(s):
            return False
        if part == "*":
            if s[i] == ">":
                return False
            continue
        if part != s[i]:
            return False
    return len(p) == len(s)


@dataclass(frozen=True)
class DeadLetterRecord:
    seq: int  # in the dead-letter stream
    consumer: str  # whose handler gave up
    via: str  # the durable that delivered it (the consumer, its redrive or a replay)
    reason: str
    subject: str  # the original message's subject
    stream: str  # ... its stream
    stream_sequence: int  # ... and its sequence there
    deliveries: int
    payload: str
    stored_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "consumer": self.consumer,
            "via": self.via,
            "reason": self.reason,
            "subject": self.subject,
            "stream": self.stream,
            "stream_sequence": self.stream_sequence,
            "deliveries": self.deliveries,
            "stored_at": self.stored_at,
        }


@dataclass(frozen=True)
class ReplayProgress:
    consumer: str
    to_seq: int
    read_to: int  # the last stream sequence read and sent on (or skipped)
    sent: int  # messages republished to the handler's redrive subject
    handler_pending: int  # sent, not yet handled (not delivered or not acked)
    read_all: bool

    @property
    def done(self) -> bool:
        return self.read_all and self.handler_pending == 0


def _instant(value: str) -> datetime:
    """A server timestamp (RFC 3339, nanoseconds) as a datetime (microseconds)."""
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    head, _, frac = value.rstrip("Z").partition(".")
    micros = (frac + "000000")[:6] if frac else "0"
    return datetime.fromisoformat(head).replace(tzinfo=UTC, microsecond=int(micros))


class JetStreamAdmin:
    def __init__(self, nc: Client, timeout_s: float = 5.0) -> None:
        self.nc = nc
        self.timeout_s = timeout_s

    async def api(self, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            reply = await self.nc.request(
                f"$JS.API.{subject}",
                json.dumps(body).encode() if body is not None else b"",
                timeout=self.timeout_s,
            )
        except Exception as exc:
            raise HarnessError(
                f"JetStream did not answer $JS.API.{subject}: {type(exc).__name__}: {exc}"
            ) from exc
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    async def _ok(self, subject: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await self.api(subject, body)
        if "error" in answer:
            error = answer["error"]
            raise HarnessError(f"$JS.API.{subject}: {error.get('description', error)}")
        return answer

    async def _paged(self, subject: str, key: str) -> list[Any]:
        items: list[Any] = []
        while True:
            page = await self._ok(subject, {"offset": len(items)})
            batch = page.get(key) or []
            items += batch
            if not batch or len(items) >= int(page.get("total", 0)):
                return items

    async def stream_names(self) -> list[str]:
        return sorted(await self._paged("STREAM.NAMES", "streams"))

    async def _info(self, subject: str, what: str) -> dict[str, Any] | None:
        """An INFO answer; None when the server has no such thing (404)."""
        answer = await self.api(subject)
        if "error" in answer:
            if answer["error"].get("code") == 404:
                return None
            raise HarnessError(f"{what}: {answer['error'].get('description')}")
        return answer

    async def stream_info(self, name: str) -> dict[str, Any] | None:
        return await self._info(f"STREAM.INFO.{name}", f"stream {name}")

    async def require_stream(self, name: str) -> dict[str, Any]:
        info = await self.stream_info(name)
        if info is None:
            names = ", ".join(await self.stream_names()) or "none"
            raise HarnessError(f"no stream named {name!r} (streams: {names})")
        return info

    async def consumers(self, stream: str) -> list[dict[str, Any]]:
        infos: list[dict[str, Any]] = await self._paged(f"CONSUMER.LIST.{stream}", "consumers")
        return sorted(infos, key=lambda i: str(i.get("name")))

    async def consumer_info(self, stream: str, name: str) -> dict[str, Any] | None:
        return await self._info(f"CONSUMER.INFO.{stream}.{name}", f"consumer {stream}/{name}")

    async def delete_consumer(self, stream: str, name: str) -> None:
        await self._ok(f"CONSUMER.DELETE.{stream}.{name}")

    async def purge(
        self, stream: str, *, subject: str | None = None, keep: int | None = None
    ) -> int:
        body: dict[str, Any] = {}
        if subject:
            body["filter"] = subject
        if keep is not None:
            body["keep"] = keep
        answer = await self._ok(f"STREAM.PURGE.{stream}", body or None)
        return int(answer.get("purged", 0))

    async def dead_letters(
        self, since: datetime | None = None, consumer: str | None = None
    ) -> list[DeadLetterRecord]:
        """The dead-letter stream's records, oldest first (read with direct gets)."""
        info = await self.stream_info(DLQ_STREAM)
        if info is None:
            return []
        state = info.get("state", {})
        first, last = int(state.get("first_seq", 0)), int(state.get("last_seq", 0))
        if int(state.get("messages", 0)) == 0:
            return []
        seq = first
        out: list[DeadLetterRecord] = []
        subject = f"altlas.dlq.{consumer}" if consumer else None
        while seq <= last:
            body: dict[str, Any] = {"seq": seq, "next_by_subj": subject or ">"}
            found = await self.api(f"STREAM.MSG.GET.{DLQ_STREAM}", body)
            if "error" in found:
                if found["error"].get("err_code") == NO_MESSAGE:
                    break  # none left
                # Anything else (an election under way) must not pass for "no more".
                raise HarnessError(
                    f"reading {DLQ_STREAM} at seq {seq}: {found['error'].get('description')}"
                )
            message = found["message"]
            seq = int(message["seq"]) + 1
            record = _dead_letter(message)
            if since is None or _instant(record.stored_at) >= since:
                out.append(record)
        return out

    async def delete_message(self, stream: str, seq: int) -> None:
        await self._ok(f"STREAM.MSG.DELETE.{stream}", {"seq": seq})

    async def publish(
        self, subject: str, data: bytes, msg_id: str, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A JetStream publish with its deduplication id; the server's ack."""
        try:
            reply = await self.nc.request(
                subject,
                data,
                timeout=self.timeout_s,
                headers={**(headers or {}), "Nats-Msg-Id": msg_id},
            )
        except Exception as exc:
            raise HarnessError(f"publish to {subject} not acknowledged: {exc}") from exc
        ack: dict[str, Any] = json.loads(reply.data)
        if "error" in ack:
            raise HarnessError(f"publish to {subject} refused: {ack['error']}")
        return ack

    async def create_replay(
        self,
        stream: str,
        name: str,
        *,
        of: str,
        subject: str,
        from_seq: int | None,
        since: datetime | None,
        max_deliver: int,
        ack_wait_s: float,
        inactive_s: float = 600.0,
    ) -> int:
        """Create the replay consumer; the last stream sequence it covers. One of the same
        name left by an interrupted replay of the same handler and subject is taken up again
        (it goes on where it stopped, to its own last sequence)."""
        found = await self.consumer_info(stream, name)
        if found is not None:
            found_config = found.get("config", {})
            meta = found_config.get("metadata") or {}
            if meta.get(REPLAY_OF) == of and found_config.get("filter_subject") == subject:
                return int(meta.get(REPLAY_TO_SEQ, 0))
            raise HarnessError(
                f"a consumer named {name!r} already exists on {stream} and is not a replay of"
                f" {subject} through {of}'s handler: pick a new name"
            )
        info = await self.require_stream(stream)
        to_seq = int(info.get("state", {}).get("last_seq", 0))
        config: dict[str, Any] = {
            "durable_name": name,
            "ack_policy": "explicit",
            "filter_subject": subject,
            "max_deliver": max_deliver,
            "ack_wait": int(ack_wait_s * NS),
            "max_ack_pending": 1000,
            "inactive_threshold": int(inactive_s * NS),
            "metadata": {REPLAY_OF: of, REPLAY_TO_SEQ: str(to_seq)},
        }
        if from_seq is not None:
            config |= {"deliver_policy": "by_start_sequence", "opt_start_seq": from_seq}
        elif since is not None:
            start = since.astimezone(UTC).isoformat().replace("+00:00", "Z")
            config |= {"deliver_policy": "by_start_time", "opt_start_time": start}
        else:
            config["deliver_policy"] = "all"
        await self._ok(
            f"CONSUMER.CREATE.{stream}.{name}", {"stream_name": stream, "config": config}
        )
        return to_seq

    async def _handler_pending(self, durable: str) -> tuple[int, int, int]:
        """(not delivered + not acked, delivered so far, pull requests waiting) of the
        redrive durable that runs `durable`'s handler."""
        info = await self.consumer_info(REDRIVE_STREAM, f"{durable}-redrive")
        if info is None:
            raise HarnessError(
                f"{REDRIVE_STREAM} has no durable {durable}-redrive: the service that runs"
                f" {durable}'s handler creates it when it starts; is it running?"
            )
        pending = int(info.get("num_pending", 0)) + int(info.get("num_ack_pending", 0))
        delivered = int(info.get("delivered", {}).get("consumer_seq", 0))
        return pending, delivered, int(info.get("num_waiting", 0))

    async def run_replay(
        self,
        stream: str,
        name: str,
        to_seq: int,
        *,
        handler: str,
        timeout_s: float,
        pickup_s: float = 30.0,
        progress: Callable[[ReplayProgress], None] = lambda _p: None,
        batch: int = 100,
    ) -> ReplayProgress:
        """Read the replay consumer `name` up to `to_seq`, republish each message to the
        handler's redrive subject, then wait until the handler has handled them all. An error
        if the handler's service does not take them up in `pickup_s`, or the whole is not done
        in `timeout_s`; run again with the same name, it goes on where it stopped."""
        started = time.monotonic()
        await self._handler_pending(handler)  # its service is there before anything is sent
        subject = f"altlas.redrive.{handler}"
        reader = await self.consumer_info(stream, name)
        if reader is None:
            raise HarnessError(f"the replay consumer {stream}/{name} is gone")
        # Deduplication ids name this replay consumer's creation: resumed, it sends what it
        # already sent under the same ids (the server keeps one); a new replay of the same name
        # is a new replay, not a duplicate of the last one.
        made = "".join(ch for ch in str(reader.get("created", "")) if ch.isdigit())
        sent, read_to, read_all = 0, 0, False
        sub = await self.nc.jetstream(timeout=self.timeout_s).pull_subscribe_bind(
            name, stream=stream
        )
        try:
            while not read_all:
                if time.monotonic() - started > timeout_s:
                    raise HarnessError(
                        f"the replay {name} was not read in {timeout_s:.0f} s: up to seq"
                        f" {read_to} of {to_seq}, {sent} sent"
                    )
                try:
                    msgs = await sub.fetch(batch, timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    msgs = []
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq <= to_seq:
                        headers = {
                            k: v for k, v in (msg.headers or {}).items() if k == "traceparent"
                        }
                        await self.publish(
                            subject,
                            msg.data,
                            f"replay-{name}-{made}-{seq}",
                            {**headers, "Altlas-Replay-Of-Seq": str(seq)},
                        )
                        sent += 1
                    await msg.ack_sync()
                    read_to = max(read_to, seq)
                info = await self.consumer_info(stream, name)
                if info is None:
                    raise HarnessError(f"the replay consumer {stream}/{name} is gone")
                left = int(info.get("num_pending", 0)) + int(info.get("num_ack_pending", 0))
                read_all = read_to >= to_seq or (not msgs and left == 0)
                pending, _, _ = await self._handler_pending(handler)
                progress(ReplayProgress(name, to_seq, read_to, sent, pending, read_all))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        last_delivered, moved_at = -1, time.monotonic()
        while True:
            pending, delivered, waiting = await self._handler_pending(handler)
            state = ReplayProgress(name, to_seq, read_to, sent, pending, read_all)
            progress(state)
            if state.done:
                return state
            now = time.monotonic()
            if delivered != last_delivered:
                last_delivered, moved_at = delivered, now
            elif waiting == 0 and now - moved_at > pickup_s:
                raise HarnessError(
                    f"{handler}'s service has not taken up the replayed messages in"
                    f" {pickup_s:.0f} s ({pending} waiting on {subject}): is it running?"
                )
            if now - started > timeout_s:
                raise HarnessError(
                    f"the replay {name} was not handled in {timeout_s:.0f} s:"
                    f" {pending} of {sent} still waiting for {handler}'s handler"
                )
            await asyncio.sleep(0.5)  # sleep-ok: polling the broker's count between reads


def _dead_letter(message: dict[str, Any]) -> DeadLetterRecord:
    import base64

    raw = base64.b64decode(message.get("data") or b"")
    try:
        record = json.loads(raw)
    except ValueError:
        record = {}
    if not isinstance(record, dict):
        record = {}
    consumer = str(record.get("consumer") or message.get("subject", "").rsplit(".", 1)[-1])
    return DeadLetterRecord(
        seq=int(message["seq"]),
        consumer=consumer,
        via=str(record.get("via") or consumer),
        reason=str(record.get("reason", "")),
        subject=str(record.get("subject", "")),
        stream=str(record.get("stream") or "ALTLAS"),
        stream_sequence=int(record.get("stream_sequence", 0) or 0),
        deliveries=int(record.get("deliveries", 0) or 0),
        payload=str(record.get("payload", "")),
        stored_at=str(message.get("time") or ""),
    )


@asynccontextmanager
async def connect(access: NatsAccess) -> AsyncIterator[JetStreamAdmin]:
    try:
        nc = await access.connect(connect_timeout=5, max_reconnect_attempts=2)
    except Exception as exc:
        raise HarnessError(f"cannot reach NATS at {access}: {type(exc).__name__}: {exc}") from exc
    try:
        yield JetStreamAdmin(nc)
    finally:
        await nc.close()

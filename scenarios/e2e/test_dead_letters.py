"""A malformed event published straight to NATS lands in the DLQ with its reason, and the
consumer keeps serving: a valid command submitted afterwards is still archived."""

from __future__ import annotations

import json
import secrets
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from harness.clients.gateway import GatewayClient
from harness.polling import poll_until
from harness.stack.state import StackState, nats_access


async def _dlq_records(stack: StackState, consumer: str, marker: str) -> list[dict[str, Any]]:
    nc = await nats_access(stack).connect()
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            f"altlas.dlq.{consumer}",
            durable=None,
            stream="ALTLAS_DLQ",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        found = []
        try:
            while True:
                msgs = await sub.fetch(100, timeout=1)
                for m in msgs:
                    await m.ack()
                    record = json.loads(m.data)
                    if marker in record.get("payload", ""):
                        found.append(record)
        except (TimeoutError, nats.errors.TimeoutError):
            pass  # no more messages
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"{not json MARKER", id="not-json"),
        pytest.param(
            json.dumps({"id": "MARKER", "type": "command.submitted"}).encode(), id="missing-fields"
        ),
    ],
)
async def test_malformed_event_goes_to_dlq(stack, gateway: GatewayClient, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    if "nats" not in stack.endpoints:
        pytest.skip("this deployment does not expose NATS (set HARNESS_NATS_URL)")
    marker = "poison" + secrets.token_hex(4)
    payload = payload.replace(b"MARKER", marker.encode())
    nc = await nats_access(stack).connect()
    try:
        ack = await nc.jetstream().publish(
            "altlas.command.submitted", payload, headers={"Nats-Msg-Id": marker}
        )
        assert ack.stream == "ALTLAS"
    finally:
        await nc.close()

    async def _landed() -> list[dict[str, Any]]:
        return await _dlq_records(stack, "segmentation", marker)

    records = await poll_until(_landed, 30, f"poison message {marker} in altlas.dlq.segmentation")
    assert "invalid payload" in records[0]["reason"], records[0]
    assert records[0]["subject"] == "altlas.command.submitted"
    cid = await gateway.submit_ok("Poison sonrası: raporu oluştur ve gönder")
    final = await gateway.wait_until_final(cid, timeout=60)
    assert final["status"] == "archived", (
        f"the consumer must keep serving after a poison message: {final}"
    )

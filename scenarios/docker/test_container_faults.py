"""Container-level fault primitives on the docker target: each fault takes effect, its heal
undoes it, and the pipeline serves a command afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.clients.gateway import GatewayClient
from harness.faults import container
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.health import check_stack
from harness.stack.state import StackState, load_state


async def _archived(gateway: GatewayClient, text: str) -> None:
    cid = await gateway.submit_ok(text)
    final = await gateway.wait_until_final(cid, timeout=120)
    assert final["status"] == "archived", final


async def _healthy(state: StackState, name: str) -> bool:
    return {h.name: h.healthy for h in await check_stack(state)}[name]


async def test_killed_container_starts_again_and_serves(
    docker_stack: StackState, harness_settings: HarnessSettings, gateway: GatewayClient
) -> None:
    before = load_state(harness_settings).processes["segmentation"].pid
    await container.kill(harness_settings, "segmentation")
    assert not await container.running(harness_settings, "segmentation")
    await container.start(harness_settings, "segmentation")
    after = load_state(harness_settings).processes["segmentation"].pid
    assert after != before, "the restarted container's pid is recorded"
    await _archived(gateway, "Raporu oluştur ve sonra ekibe gönder")


async def test_paused_container_holds_work_until_resumed(
    container_of: Callable[[str], Any],
    docker_stack: StackState,
    harness_settings: HarnessSettings,
    gateway: GatewayClient,
) -> None:
    await container.pause(harness_settings, "runner")
    try:
        assert container_of("runner").status == "paused"
        cid = await gateway.submit_ok("Veriyi analiz et ve özetle")

        async def _segmented() -> bool:
            return (await gateway.status(cid))["status"] == "segmented"

        await poll_until(_segmented, 30, "the command to wait at `segmented` for the runner")
    finally:
        await container.resume(harness_settings, "runner")
    final = await gateway.wait_until_final(cid, timeout=120)
    assert final["status"] == "archived", final


async def test_disconnect_partitions_and_reconnect_keeps_the_address(
    container_of: Callable[[str], Any], docker_stack: StackState, harness_settings: HarnessSettings
) -> None:
    network = docker_stack.processes["archive"].extra["network"]

    def _address() -> str:
        attrs = container_of("archive").attrs
        return str(attrs["NetworkSettings"]["Networks"][network]["IPAddress"])

    before = _address()
    await container.disconnect(harness_settings, "archive")
    try:
        assert not await container.connected(harness_settings, "archive")
        state = load_state(harness_settings)

        async def _unreachable() -> bool:
            return not await _healthy(state, "archive")

        await poll_until(_unreachable, 30, "the partitioned archive to be unreachable")
    finally:
        await container.reconnect(harness_settings, "archive")
    assert _address() == before
    assert await _healthy(load_state(harness_settings), "archive")


async def test_limits_apply_live_and_lift(
    docker_stack: StackState, harness_settings: HarnessSettings, gateway: GatewayClient
) -> None:
    await container.limit(harness_settings, "runner", cpus=0.5, memory_mb=256)
    try:
        assert await container.limits(harness_settings, "runner") == {
            "cpu_quota": 50_000,
            "memory": 256 * 2**20,
        }
        await _archived(gateway, "Bütçeyi hesapla ve sonra yöneticiye gönder")
    finally:
        await container.unlimit(harness_settings, "runner")
    lifted = await container.limits(harness_settings, "runner")
    assert lifted["cpu_quota"] <= 0 and lifted["memory"] >= container.UNLIMITED_MEMORY, lifted


async def test_heal_all_undoes_every_fault_at_once(
    docker_stack: StackState, harness_settings: HarnessSettings, gateway: GatewayClient
) -> None:
    await container.kill(harness_settings, "runner")
    await container.pause(harness_settings, "segmentation")
    await container.disconnect(harness_settings, "archive")
    await container.limit(harness_settings, "gateway", cpus=0.5)
    healed = await container.heal_all(harness_settings)
    assert set(healed) == {
        "runner: started",
        "segmentation: resumed",
        "archive: reconnected",
        "gateway: limits lifted",
    }, healed
    health = await check_stack(load_state(harness_settings))
    assert all(h.healthy for h in health), [h for h in health if not h.healthy]
    await _archived(gateway, "Toplantı notlarını İngilizceye çevir")

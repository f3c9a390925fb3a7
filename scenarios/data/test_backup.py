"""Backups proven by restoring them: base backups plus continuous WAL archiving to the stack's
object store, judged against a ledger of commits whose times PostgreSQL itself stamped.

- restore to the latest state: every committed ledger row is there (0 missing);
- restore to a random instant T between two commits: exactly the rows committed at or before
  T (0 missing, 0 extra);
- a damaged backup (its tar, or a data file inside it with the tar's checksum redone) is
  refused by verification and by restore;
- the object store down while PostgreSQL archives: the segment is kept and retried, never
  lost; `harness status` says archiving is failing until the store is back; afterwards the
  archive has no hole and a restore has the rows committed during the outage.

Restores here are *drills* (beside the stack, on a port of their own); the stack's own
PostgreSQL is never switched, so the suites after this one see the stack as it was. The
switching restore is exercised by chaos/local/postgres-data-destroyed.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import random
import secrets
import sys
import tarfile
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import pytest

from harness.backup import ops
from harness.backup.catalog import BASE, BackupRefused, Catalog
from harness.errors import HarnessError
from harness.faults import process as process_faults
from harness.polling import poll_until
from harness.settings import HarnessSettings
from harness.stack.health import check_stack
from harness.stack.state import StackState
from harness.workload import ledger

pytestmark = pytest.mark.timeout(900)


@dataclass(frozen=True)
class Backups:
    server: ops.Server
    settings: HarnessSettings
    base: str  # a backup taken for this module, before any ledger row

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
async def backups(stack: StackState, harness_settings: HarnessSettings) -> Backups:
    try:
        server = ops.server(harness_settings)
    except HarnessError as exc:
        pytest.skip(f"needs the local stack with backups on: {exc}")
    await ledger.prepare(server.url)
    result = await ops.take_backup(harness_settings)
    return Backups(server, harness_settings, result.info.id)


@pytest.fixture
def run_name() -> str:
    return "run-" + secrets.token_hex(4)


async def test_restore_to_latest_has_every_committed_row(backups: Backups, run_name: str) -> None:
    entries = await ledger.write(backups.url, run_name, rows=300, pace_s=0.005)
    assert len(entries) == 300, "the ledger could not commit its rows"
    async with ops.drill(backups.settings, None) as restored:
        found = await ledger.present(restored.url, run_name)
    diff = ledger.differences(entries, found, None)
    assert diff == {"missing": [], "extra": []}, (
        f"a restore to the latest state should have all {len(entries)} committed rows: {diff}"
        f" (restored from {restored.backup}, last commit replayed {restored.reached})"
    )


async def test_restore_to_a_random_instant_is_exact(backups: Backups, run_name: str) -> None:
    entries = await ledger.write(backups.url, run_name, rows=400, pace_s=0.01)
    rng = random.Random()  # noqa: S311 - test data, not secrets
    i = rng.randrange(20, len(entries) - 20)
    before, after = entries[i].committed_at, entries[i + 1].committed_at
    assert after > before, f"two commits share a timestamp ({before}): no instant between them"
    target = before + (after - before) / 2
    async with ops.drill(backups.settings, target, bid=backups.base) as restored:
        found = await ledger.present(restored.url, run_name)
    diff = ledger.differences(entries, found, target)
    print(
        f"\nPITR to {target.isoformat()} (between rows {entries[i].n} and {entries[i + 1].n}):"
        f" {len(found)} of {len(entries)} rows, missing {len(diff['missing'])},"
        f" extra {len(diff['extra'])}; timings {restored.timings}"
    )
    assert diff == {"missing": [], "extra": []}, (
        f"a restore to {target.isoformat()} should have exactly the {i + 1} rows committed by"
        f" then: {diff}"
    )


def _flip(data: bytes, at: int, n: int = 16) -> bytes:
    """`data` with `n` bytes from `at` inverted: changed whatever they held."""
    return data[:at] + bytes(b ^ 0xFF for b in data[at : at + n]) + data[at + n :]


def _damage_a_data_file(tar_bytes: bytes) -> tuple[bytes, str]:
    """The same tar with 16 bytes inverted inside one relation file of 8 kB or more."""
    source = tarfile.open(fileobj=io.BytesIO(tar_bytes))
    out = io.BytesIO()
    damaged = ""
    with tarfile.open(fileobj=out, mode="w") as target:
        for member in source.getmembers():
            data = source.extractfile(member) if member.isfile() else None
            body = data.read() if data is not None else None
            if body is not None and not damaged and member.name.startswith("./base/"):
                if len(body) >= 8192:
                    body, damaged = _flip(body, 4096), member.name
            target.addfile(member, io.BytesIO(body) if body is not None else None)
    assert damaged, "no relation file of 8 kB or more in the backup"
    return out.getvalue(), damaged


async def test_a_damaged_backup_is_refused(backups: Backups) -> None:
    settings = backups.settings
    taken = (await ops.take_backup(settings)).info
    catalog = Catalog(backups.server.location)
    key = f"{BASE}/{taken.id}/base.tar"
    try:
        original = await catalog.get(key)
        # 1. The stored tar damaged: its SHA-256 no longer matches the catalog's.
        middle = len(original) // 2  # (the end of a tar is zero padding already)
        await catalog.put(
            key,
            original[:middle]
            + bytes(b ^ 0xFF for b in original[middle : middle + 64])
            + original[middle + 64 :],
        )
        with pytest.raises(BackupRefused, match="SHA-256"):
            await ops.verify_backup(settings, taken.id)
        # 2. A data file damaged and the tar's checksum redone: pg_verifybackup's manifest
        #    (SHA-256 per file) still catches it — through the CLI a user runs, and restore.
        body, damaged = _damage_a_data_file(original)
        await catalog.put(key, body)
        info = json.loads(await catalog.get(f"{BASE}/{taken.id}/backup.json"))
        info["sha256"] = hashlib.sha256(body).hexdigest()
        await catalog.put(f"{BASE}/{taken.id}/backup.json", json.dumps(info).encode())
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "harness.cli",
            "db",
            "verify",
            taken.id,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 1, (
            f"`harness db verify` should exit 1 on {damaged} damaged, got {proc.returncode}:"
            f" {out.decode()} {err.decode()}"
        )
        assert "REFUSED" in out.decode() and damaged.removeprefix("./") in out.decode(), (
            f"the refusal should name the damaged file {damaged}: {out.decode()}"
        )
        with pytest.raises(BackupRefused):
            async with ops.drill(settings, None, bid=taken.id):
                pytest.fail("a damaged backup was restored")
    finally:
        await ops.delete_backup(settings, taken.id)


async def _archiver(url: str) -> asyncpg.Record:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        row = await conn.fetchrow("SELECT * FROM pg_stat_archiver")
        assert row is not None
        return row
    finally:
        await conn.close()


async def _switch(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SELECT pg_walfile_name(pg_switch_wal())"))
    finally:
        await conn.close()


async def _wal_archive_health(stack: StackState) -> tuple[bool, str]:
    health = {h.name: h for h in await check_stack(stack)}
    return health["wal-archive"].healthy, health["wal-archive"].detail


async def test_store_down_wal_is_retried_and_reported(
    backups: Backups, stack: StackState, run_name: str
) -> None:
    settings = backups.settings
    before = await _archiver(backups.url)
    await process_faults.stop(settings, "objectstore")
    try:
        entries = await ledger.write(backups.url, run_name, rows=100, pace_s=0.005)
        segment = await _switch(backups.url)

        async def failing() -> bool:
            row = await _archiver(backups.url)
            return int(row["failed_count"]) > int(before["failed_count"])

        await poll_until(failing, 60, f"PostgreSQL to report failing to archive {segment}")
        healthy, detail = await _wal_archive_health(stack)
        assert not healthy and "FAILING" in detail, (
            f"with the object store down, the stack's health should say archiving fails: {detail}"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "harness.cli", "status", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 1 and "FAILING" in out.decode(), (
            f"`harness status` should exit 1 and show the failing archive: {out.decode()}"
        )
    finally:
        await process_faults.start(settings, "objectstore")
    await ledger.write(backups.url, run_name + "-nudge", rows=1)
    await _switch(backups.url)  # a new segment wakes the archiver, which retries in order

    async def archived() -> bool:
        row = await _archiver(backups.url)
        return row["last_archived_wal"] is not None and str(row["last_archived_wal"]) >= segment

    await poll_until(archived, 120, f"{segment} to be archived once the store is back")
    healthy, detail = await _wal_archive_health(stack)
    assert healthy, f"archiving should be healthy again once the store is back: {detail}"
    inventory = await ops.inventory(settings)
    assert inventory.wal_gaps == [], (
        f"the WAL archive has holes after the outage: {inventory.wal_gaps}"
    )
    async with ops.drill(settings, None) as restored:
        found = await ledger.present(restored.url, run_name)
    diff = ledger.differences(entries, found, None)
    assert diff == {"missing": [], "extra": []}, (
        f"rows committed while the object store was down must survive a restore: {diff}"
    )


async def test_bad_restore_targets_get_clear_errors(backups: Backups) -> None:
    for text, expected in (
        ("yesterday", "RFC 3339"),
        ("2026-12-01T10:00:00", "no UTC offset"),
        ("2999-01-01T00:00:00Z", "in the future"),
    ):
        with pytest.raises(HarnessError, match=expected):
            ops.parse_target(text)
    catalog = Catalog(backups.server.location)
    earliest = min(b.finished for b in await catalog.backups())
    with pytest.raises(HarnessError, match="earliest instant"):
        async with ops.drill(backups.settings, earliest - timedelta(days=1)):
            pytest.fail("restored an instant before every backup")
    with pytest.raises(HarnessError, match="no backup 'nope'"):
        async with ops.drill(backups.settings, None, bid="nope"):
            pytest.fail("restored a backup that does not exist")

"""What the object store holds for one PostgreSQL server, and what retention removes.

Layout under `s3://<bucket>/postgres/altlas/` (barman-cloud's own for the WAL):

    wals/<timeline+log>/<segment>.gz     archived WAL (barman-cloud-wal-archive)
    wals/<timeline>.history              timeline history files (never pruned)
    base/<id>/base.tar                   a base backup: pg_basebackup's plain output, tarred,
                                         its backup_manifest (SHA-256 per file) inside
    base/<id>/backup.json                written last: a backup without it is incomplete

The pure functions here (naming, retention, choosing a backup for an instant) carry the rules;
the operations in `harness.backup.ops` do the I/O.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from harness.errors import HarnessError
from harness.infra.objectstore import S3Location
from harness.infra.postgres import BACKUP_PREFIX, BACKUP_SERVER

ROOT = f"{BACKUP_PREFIX}/{BACKUP_SERVER}"
BASE = f"{ROOT}/base"
WALS = f"{ROOT}/wals"
SEGMENT = re.compile(r"^[0-9A-F]{24}")
WAL_SEGMENT_BYTES = 16 * 1024 * 1024


class BackupRefused(HarnessError):
    """A backup that fails verification: never restored from."""


@dataclass(frozen=True)
class BackupInfo:
    id: str
    started_at: str  # RFC 3339, UTC
    finished_at: str  # the backup is consistent by then: the earliest instant it restores to
    timeline: int
    start_lsn: str
    end_lsn: str
    start_wal: str  # the first WAL segment a restore needs
    data_bytes: int
    tar_bytes: int
    sha256: str
    pg_version: str
    duration_s: float

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BackupInfo:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def wal_file_name(timeline: int, lsn: str) -> str:
    """The WAL segment holding `lsn` ("0/3000028") on `timeline`, as PostgreSQL names it."""
    high, _, low = lsn.partition("/")
    position = (int(high, 16) << 32) | int(low, 16)
    segment = position // WAL_SEGMENT_BYTES
    per_log = 0x100000000 // WAL_SEGMENT_BYTES
    return f"{timeline:08X}{segment // per_log:08X}{segment % per_log:08X}"


WHOLE_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.[a-z0-9]+)?$")


def wal_gaps(wal_keys: Sequence[str]) -> list[str]:
    """Segments missing from the archive: per timeline, every name between the first and the
    last archived one must be there (a hole is WAL no restore can replay past). Partial
    segments, backup labels and history files are not segments and are skipped."""
    per_log = 0x100000000 // WAL_SEGMENT_BYTES
    by_timeline: dict[str, set[int]] = {}
    for key in wal_keys:
        found = WHOLE_SEGMENT.match(key.rsplit("/", 1)[-1])
        if found is None or found.group(4) not in (None, ".gz"):
            continue
        timeline, log, seg = found.group(1), int(found.group(2), 16), int(found.group(3), 16)
        by_timeline.setdefault(timeline, set()).add(log * per_log + seg)
    missing = []
    for timeline, numbers in sorted(by_timeline.items()):
        for n in range(min(numbers), max(numbers) + 1):
            if n not in numbers:
                missing.append(f"{timeline}{n // per_log:08X}{n % per_log:08X}")
    return missing


def backup_id(now: datetime, taken: Sequence[str]) -> str:
    """A sortable id from the time (UTC), made unique among `taken`."""
    base = now.strftime("%Y%m%dT%H%M%SZ")
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def to_prune(backups: Sequence[BackupInfo], wal_keys: Sequence[str], keep: int) -> list[str]:
    """The object keys retention removes: the backups beyond the newest `keep`, and every WAL
    segment older than the first one the oldest kept backup needs. History files stay (a
    restore needs them to follow timelines), and nothing goes while no backup is kept."""
    if keep < 1:
        raise HarnessError(f"retention must keep at least one backup, not {keep}")
    ordered = sorted(backups, key=lambda b: b.id)
    if not ordered:
        return []
    dropped, kept = ordered[:-keep], ordered[-keep:]
    keys = [f"{BASE}/{b.id}/{name}" for b in dropped for name in ("base.tar", "backup.json")]
    horizon = min(b.start_wal for b in kept)
    for key in wal_keys:
        name = key.rsplit("/", 1)[-1]
        if SEGMENT.match(name) and name[:24] < horizon:
            keys.append(key)
    return keys


def choose(backups: Sequence[BackupInfo], target: datetime | None) -> BackupInfo:
    """The newest backup a restore to `target` (None: the latest state) can start from."""
    if not backups:
        raise HarnessError(
            "the object store holds no base backup: take one with `harness db backup`"
        )
    ordered = sorted(backups, key=lambda b: b.id)
    if target is None:
        return ordered[-1]
    usable = [b for b in ordered if b.finished <= target]
    if not usable:
        raise HarnessError(
            f"no backup was complete by {target.isoformat()}: the earliest instant this store can"
            f" restore to is {ordered[0].finished_at} (backup {ordered[0].id})"
        )
    return usable[-1]


class Catalog:
    """The backups and archived WAL of the stack's server in its object store."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.location.client()
        return self._client

    async def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(getattr(self.client, method), **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise HarnessError(
                f"object store {self.location.endpoint}: {method} failed: {exc}"
            ) from exc

    async def objects(self, prefix: str) -> dict[str, int]:
        """Every object under `prefix`/ with its size in bytes."""
        found: dict[str, int] = {}
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call(
                "list_objects_v2", Bucket=self.location.bucket, Prefix=prefix + "/", **extra
            )
            found.update((obj["Key"], int(obj["Size"])) for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return found
            token = page["NextContinuationToken"]

    async def keys(self, prefix: str) -> list[str]:
        return list(await self.objects(prefix))

    async def backups(self) -> list[BackupInfo]:
        infos = []
        for key in await self.keys(BASE):
            if key.endswith("/backup.json"):
                body = await self.get(key)
                infos.append(BackupInfo.from_json(json.loads(body)))
        return sorted(infos, key=lambda b: b.id)

    async def wal_keys(self) -> list[str]:
        return await self.keys(WALS)

    async def get(self, key: str) -> bytes:
        resp = await self._call("get_object", Bucket=self.location.bucket, Key=key)
        body: bytes = await asyncio.to_thread(resp["Body"].read)
        return body

    async def put(self, key: str, body: bytes) -> None:
        await self._call("put_object", Bucket=self.location.bucket, Key=key, Body=body)

    async def upload(self, key: str, path: str) -> None:
        await self._call("upload_file", Filename=path, Bucket=self.location.bucket, Key=key)

    async def download(self, key: str, path: str) -> None:
        await self._call("download_file", Bucket=self.location.bucket, Key=key, Filename=path)

    async def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": k} for k in keys[start : start + 1000]]
            await self._call(
                "delete_objects", Bucket=self.location.bucket, Delete={"Objects": chunk}
            )

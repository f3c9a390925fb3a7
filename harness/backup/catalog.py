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
import gzip
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
HISTORY = re.compile(r"^([0-9A-F]{8})\.history(\.[a-z0-9]+)?$")
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


def wal_gaps(wal_keys: Sequence[str], starts: Sequence[str] = ()) -> list[str]:
    """Segments missing from the archive: per timeline, every name between the first and the
    last archived one must be there (a hole is WAL no restore can replay past), and from each
    of `starts` (the first segment each backup needs) on. Partial segments, backup labels and
    history files are not segments and are skipped."""
    per_log = 0x100000000 // WAL_SEGMENT_BYTES
    by_timeline: dict[str, set[int]] = {}
    for key in wal_keys:
        found = WHOLE_SEGMENT.match(key.rsplit("/", 1)[-1])
        if found is None or found.group(4) not in (None, ".gz"):
            continue
        timeline, log, seg = found.group(1), int(found.group(2), 16), int(found.group(3), 16)
        by_timeline.setdefault(timeline, set()).add(log * per_log + seg)
    firsts: dict[str, int] = {}
    for start in starts:
        timeline, n = start[:8], int(start[8:16], 16) * per_log + int(start[16:24], 16)
        firsts[timeline] = min(n, firsts.get(timeline, n))
    missing = []
    for timeline, numbers in sorted(by_timeline.items()):
        for n in range(min(firsts.get(timeline, min(numbers)), min(numbers)), max(numbers) + 1):
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


def lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class Timelines:
    """The timeline a restore to "latest" follows, and where it left each ancestor (from the
    newest `.history` file in the archive; no history file: timeline 1, no forks)."""

    latest: int = 1
    forks: tuple[tuple[int, int], ...] = ()  # (ancestor timeline, LSN where it was left)

    @classmethod
    def parse(cls, latest: int, history: str) -> Timelines:
        forks = []
        for line in history.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0].isdigit():
                forks.append((int(fields[0]), lsn(fields[1])))
        return cls(latest, tuple(forks))

    def holds(self, backup: BackupInfo) -> bool:
        """The backup lies on the current history: on the latest timeline, or on an ancestor
        and complete before that ancestor was left. A backup of an abandoned branch (taken on
        timeline 1 after a restore forked timeline 2 from an earlier point) cannot serve a
        restore that follows the latest timeline."""
        if backup.timeline == self.latest:
            return True
        return any(t == backup.timeline and lsn(backup.end_lsn) <= at for t, at in self.forks)


def to_prune(
    backups: Sequence[BackupInfo],
    wal_keys: Sequence[str],
    keep: int,
    timelines: Timelines | None = None,
) -> list[str]:
    """The object keys retention removes: the usable backups beyond the newest `keep`, and
    every WAL segment older than the first one any remaining backup needs. Backups off the
    current history are neither counted nor removed (a person decides), history files stay
    (a restore follows timelines with them), and nothing goes while no backup is kept."""
    if keep < 1:
        raise HarnessError(f"retention must keep at least one backup, not {keep}")
    line = timelines or Timelines()
    ordered = sorted((b for b in backups if line.holds(b)), key=lambda b: b.id)
    if not ordered:
        return []
    dropped = ordered[:-keep]
    kept = [b for b in backups if b not in dropped]
    keys = [f"{BASE}/{b.id}/{name}" for b in dropped for name in ("base.tar", "backup.json")]
    horizon = min(b.start_wal for b in kept)
    for key in wal_keys:
        name = key.rsplit("/", 1)[-1]
        if SEGMENT.match(name) and name[:24] < horizon:
            keys.append(key)
    return keys


def choose(
    backups: Sequence[BackupInfo], target: datetime | None, timelines: Timelines | None = None
) -> BackupInfo:
    """The newest backup on the current history a restore to `target` (None: the latest
    state) can start from."""
    if not backups:
        raise HarnessError(
            "the object store holds no base backup: take one with `harness db backup`"
        )
    line = timelines or Timelines()
    ordered = sorted((b for b in backups if line.holds(b)), key=lambda b: b.id)
    if not ordered:
        raise HarnessError(
            f"no stored backup lies on timeline {line.latest}'s history (every one belongs to"
            " a branch a restore abandoned): take one with `harness db backup`"
        )
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

    async def timelines(self, wal_keys: Sequence[str] | None = None) -> Timelines:
        """The current history, from the newest timeline history file archived."""
        newest: tuple[int, str] | None = None
        for key in wal_keys if wal_keys is not None else await self.wal_keys():
            found = HISTORY.match(key.rsplit("/", 1)[-1])
            if found and (newest is None or int(found.group(1), 16) > newest[0]):
                newest = (int(found.group(1), 16), key)
        if newest is None:
            return Timelines()
        body = await self.get(newest[1])
        text = (gzip.decompress(body) if newest[1].endswith(".gz") else body).decode()
        return Timelines.parse(newest[0], text)

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

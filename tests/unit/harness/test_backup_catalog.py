"""The backup catalog's rules: WAL names, retention, holes, choosing a backup, restore targets,
the archiver's health, and the ledger's judgement of a restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness.backup.catalog import (
    BASE,
    WALS,
    BackupInfo,
    backup_id,
    choose,
    to_prune,
    wal_file_name,
    wal_gaps,
)
from harness.backup.ops import _recovery_settings, parse_target
from harness.errors import HarnessError
from harness.infra.objectstore import S3Location
from harness.stack.health import archiver_verdict
from harness.workload.ledger import Entry, differences

pytestmark = pytest.mark.unit
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def info(bid: str, start_wal: str, finished: datetime = T0) -> BackupInfo:
    return BackupInfo(
        id=bid,
        started_at=finished.isoformat(),
        finished_at=finished.isoformat(),
        timeline=1,
        start_lsn="0/2000028",
        end_lsn="0/2000100",
        start_wal=start_wal,
        data_bytes=1,
        tar_bytes=1,
        sha256="0" * 64,
        pg_version="16",
        duration_s=1.0,
    )


@pytest.mark.parametrize(
    ("timeline", "lsn", "name"),
    [
        (1, "0/2000028", "000000010000000000000002"),
        (1, "0/FFFFFFFF", "0000000100000000000000FF"),
        (2, "1/0", "000000020000000100000000"),
        (3, "A/3C000000", "000000030000000A0000003C"),
    ],
)
def test_wal_file_name_matches_postgresql(timeline: int, lsn: str, name: str) -> None:
    assert wal_file_name(timeline, lsn) == name


def test_backup_ids_sort_by_time_and_never_collide() -> None:
    assert backup_id(T0, []) == "20261201T120000Z"
    assert backup_id(T0, ["20261201T120000Z"]) == "20261201T120000Z-2"
    assert backup_id(T0, ["20261201T120000Z", "20261201T120000Z-2"]) == "20261201T120000Z-3"


def _wal(name: str) -> str:
    return f"{WALS}/{name[:16]}/{name}.gz"


def test_retention_drops_old_backups_and_only_the_wal_they_alone_needed() -> None:
    backups = [
        info("b1", "000000010000000000000002"),
        info("b2", "000000010000000000000005"),
        info("b3", "000000010000000000000009"),
    ]
    wal = [_wal(f"0000000100000000000000{n:02X}") for n in range(1, 12)]
    wal += [
        f"{WALS}/00000002.history",
        f"{WALS}/0000000100000000/000000010000000000000004.00000028.backup",
    ]
    doomed = to_prune(backups, wal, keep=2)
    assert f"{BASE}/b1/base.tar" in doomed and f"{BASE}/b1/backup.json" in doomed
    assert not any("/b2/" in k or "/b3/" in k for k in doomed), "a kept backup was pruned"
    pruned_wal = sorted(k.rsplit("/", 1)[-1] for k in doomed if k.startswith(WALS))
    assert pruned_wal == [
        "000000010000000000000001.gz",
        "000000010000000000000002.gz",
        "000000010000000000000003.gz",
        "000000010000000000000004.00000028.backup",
        "000000010000000000000004.gz",
    ], "WAL from the oldest kept backup's start on must stay; history files always"


def test_retention_keeps_everything_when_there_is_nothing_to_drop() -> None:
    assert to_prune([], [_wal("000000010000000000000001")], keep=3) == []
    backups = [info("b1", "000000010000000000000005")]
    assert to_prune(backups, [_wal("000000010000000000000005")], keep=3) == []
    with pytest.raises(HarnessError, match="at least one"):
        to_prune(backups, [], keep=0)


def test_holes_in_the_archive_are_found_per_timeline() -> None:
    keys = [_wal(f"0000000100000000000000{n:02X}") for n in (3, 4, 6, 7)]
    keys += [_wal("0000000100000000000000FF"), _wal("000000010000000100000000")]
    keys += [_wal("000000020000000100000001"), _wal("000000020000000100000002")]
    keys += [f"{WALS}/00000002.history", _wal("000000010000000000000005") + ".partial"]
    gaps = wal_gaps(keys)
    assert gaps[0] == "000000010000000000000005", "a .partial does not fill a hole"
    assert "000000010000000000000008" in gaps and "0000000100000000000000FE" in gaps
    assert len(gaps) == 1 + (0xFE - 0x08 + 1), "every missing name from 08 to FE, and 05"
    assert not any(g.startswith("00000002") for g in gaps), "timeline 2 is contiguous"
    assert wal_gaps([_wal("000000010000000000000001")]) == []


def test_the_backup_chosen_is_the_newest_complete_by_the_target() -> None:
    backups = [
        info("b1", "000000010000000000000002", T0),
        info("b2", "000000010000000000000005", T0 + timedelta(hours=1)),
    ]
    assert choose(backups, None).id == "b2"
    assert choose(backups, T0 + timedelta(minutes=30)).id == "b1"
    assert choose(backups, T0 + timedelta(hours=1)).id == "b2"
    with pytest.raises(HarnessError, match="earliest instant this store can restore to"):
        choose(backups, T0 - timedelta(seconds=1))
    with pytest.raises(HarnessError, match="no base backup"):
        choose([], None)


def test_restore_targets_are_rfc3339_with_an_offset_and_not_in_the_future() -> None:
    assert parse_target("latest") is None
    assert parse_target("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with_offset = parse_target("2026-01-02T06:04:05.250+03:00")
    assert with_offset == datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
    for bad, why in (("soon", "RFC 3339"), ("2026-01-02T03:04:05", "no UTC offset")):
        with pytest.raises(HarnessError, match=why):
            parse_target(bad)
    with pytest.raises(HarnessError, match="future"):
        parse_target((datetime.now(UTC) + timedelta(hours=1)).isoformat())


def test_recovery_settings_stop_at_the_instant_in_utc_microseconds() -> None:
    location = S3Location("http://127.0.0.1:9", "b", "k", "s")
    text = _recovery_settings(
        Path("/tools"), location, parse_target("2026-01-02T06:04:05.25+03:00")
    )
    assert "recovery_target_time = '2026-01-02 03:04:05.250000+00'" in text
    assert "recovery_target_inclusive = on" in text and "'promote'" in text
    assert "barman-cloud-wal-restore" in text and "%f %p" in text
    assert "hot_standby = off" in text, "no session may work on the standby mid-replay"
    latest = _recovery_settings(Path("/tools"), location, None)
    assert "recovery_target_time =" not in latest, "latest replays every archived segment"


def test_archiver_health_fails_only_while_the_last_attempt_failed() -> None:
    now = T0
    ok = {
        "archived_count": 5,
        "last_archived_wal": "000000010000000000000005",
        "last_archived_time": now - timedelta(seconds=3),
        "failed_count": 2,
        "last_failed_wal": "000000010000000000000004",
        "last_failed_time": now - timedelta(seconds=30),
        "now": now,
        "waiting": 0,
    }
    healthy, detail = archiver_verdict(ok)
    assert healthy and "5 segments archived" in detail
    failing = {
        **ok,
        "last_failed_wal": "000000010000000000000006",
        "last_failed_time": now,
        "waiting": 2,
    }
    healthy, detail = archiver_verdict(failing)
    assert not healthy
    assert "FAILING" in detail and "000000010000000000000006" in detail and "2 segment" in detail
    never = {**ok, "archived_count": 0, "last_archived_wal": None, "last_archived_time": None}
    assert archiver_verdict({**never, "failed_count": 0, "last_failed_time": None})[0]
    assert not archiver_verdict(never)[0], "failures and nothing archived yet: failing"


def test_the_ledger_judges_a_restore_by_commit_time() -> None:
    entries = [Entry(n, T0 + timedelta(milliseconds=10 * n), 0.0) for n in range(1, 6)]
    cutoff = T0 + timedelta(milliseconds=35)
    assert differences(entries, {1, 2, 3}, cutoff) == {"missing": [], "extra": []}
    assert differences(entries, {1, 2, 3, 4}, cutoff) == {"missing": [], "extra": [4]}
    assert differences(entries, {1, 3, 99}, cutoff) == {"missing": [2], "extra": []}
    assert differences(entries, {1, 2, 3, 4, 5}, None) == {"missing": [], "extra": []}


def test_an_earlier_restores_settings_are_recognised_for_removal() -> None:
    from harness.backup.ops import _is_recovery_setting

    old = "recovery_target_time = '2026-01-01 00:00:00+00'"
    assert _is_recovery_setting(old) and _is_recovery_setting("restore_command = 'x %f %p'")
    assert _is_recovery_setting("# harness db restore")
    assert not _is_recovery_setting("max_connections = '300'")

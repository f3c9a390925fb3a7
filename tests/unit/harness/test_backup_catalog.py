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
    Timelines,
    backup_id,
    choose,
    to_prune,
    wal_file_name,
    wal_gaps,
)
from harness.backup.ops import _recovery_settings, parse_target
from harness.errors import HarnessError
from harness.infra.objectstore import S3Location
from harness.infra.postgres import WalArchiving
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
    script = Path("/data/pgdata-restored.restore-wal.sh")
    text = _recovery_settings(script, parse_target("2026-01-02T06:04:05.25+03:00"))
    assert "recovery_target_time = '2026-01-02 03:04:05.250000+00'" in text
    assert "recovery_target_inclusive = on" in text and "'promote'" in text
    assert f"restore_command = '{script} %f %p'" in text
    assert "hot_standby = off" in text, "no session may work on the standby mid-replay"
    latest = _recovery_settings(script, None)
    assert "recovery_target_time =" not in latest, "latest replays every archived segment"


def test_the_restore_script_makes_every_error_but_not_found_fatal(tmp_path: Path) -> None:
    import subprocess

    location = S3Location("http://127.0.0.1:9", "b", "k", "s")
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "barman-cloud-wal-restore"
    script = tmp_path / "restore.sh"
    script.write_text(WalArchiving(tools, location).restore_script(tmp_path / "spool"))
    assert "--no-partial" in script.read_text(), "never a .partial segment"
    for barman_exit, expected in ((0, 0), (1, 1), (2, 200), (4, 200)):
        fake.write_text(f"#!/bin/sh\nexit {barman_exit}\n")
        fake.chmod(0o755)
        rc = subprocess.run(["sh", str(script), "000000010000000000000003", "x"], check=False)
        assert rc.returncode == expected, (
            f"barman exit {barman_exit} should become {expected} (1: not in the archive, the"
            f" end of WAL; anything else must stop the recovery, > 125), got {rc.returncode}"
        )


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


def _on(bid: str, timeline: int, end_lsn: str, start_wal: str) -> BackupInfo:
    return BackupInfo(
        **{**info(bid, start_wal).to_json(), "timeline": timeline, "end_lsn": end_lsn}
    )


# 00000003.history after two restores: timeline 1 left at 0/5000000, timeline 2 at 0/9000000.
HISTORY_3 = (
    "1\t0/5000000\tbefore 2026-12-01 12:00:00+00\n2\t0/9000000\tno recovery target specified\n"
)


def test_the_current_history_says_which_backups_a_restore_can_use() -> None:
    line = Timelines.parse(3, HISTORY_3)
    assert line.latest == 3 and line.forks == ((1, 0x5000000), (2, 0x9000000))
    before_fork = _on("a", 1, "0/4000100", "000000010000000000000004")
    after_fork = _on("b", 1, "0/6000100", "000000010000000000000006")  # abandoned branch
    on_two = _on("c", 2, "0/8000100", "000000020000000000000008")
    on_three = _on("d", 3, "0/A000100", "00000003000000000000000A")
    assert [line.holds(b) for b in (before_fork, after_fork, on_two, on_three)] == [
        True,
        False,
        True,
        True,
    ]
    assert choose([before_fork, after_fork], None, line).id == "a", "not the abandoned branch"
    with pytest.raises(HarnessError, match="abandoned"):
        choose([after_fork], None, line)
    assert Timelines().holds(before_fork), "no history file: timeline 1, every backup holds"


def test_retention_neither_counts_nor_removes_a_backup_off_the_current_history() -> None:
    line = Timelines.parse(2, "1\t0/5000000\tno recovery target specified\n")
    old = _on("a", 1, "0/2000100", "000000010000000000000002")
    abandoned = _on("b", 1, "0/7000100", "000000010000000000000007")
    newer = _on("c", 2, "0/8000100", "000000020000000000000008")
    newest = _on("d", 2, "0/9000100", "000000020000000000000009")
    doomed = to_prune([old, abandoned, newer, newest], [], keep=2, timelines=line)
    assert {k.split("/")[-2] for k in doomed} == {"a"}, "keep the 2 newest usable, drop the rest"
    wal = [_wal("000000010000000000000003"), _wal("000000010000000000000007")]
    doomed = to_prune([abandoned, newer, newest], wal, keep=1, timelines=line)
    assert _wal("000000010000000000000003") in doomed
    assert _wal("000000010000000000000007") not in doomed, (
        "WAL an abandoned backup still needs stays while that backup does"
    )


def test_a_backup_whose_first_segment_is_not_archived_is_a_hole() -> None:
    keys = [_wal(f"0000000100000000000000{n:02X}") for n in (5, 6, 7)]
    assert wal_gaps(keys, ["000000010000000000000005"]) == []
    assert wal_gaps(keys, ["000000010000000000000003"]) == [
        "000000010000000000000003",
        "000000010000000000000004",
    ]


def test_a_stopped_servers_wal_is_carried_into_the_restore_without_overwriting(
    tmp_path: Path,
) -> None:
    from harness.backup.ops import _carry_wal, _restore_paths, _with

    old, new = tmp_path / "old", tmp_path / "new"
    (old / "pg_wal" / "archive_status").mkdir(parents=True)
    (new / "pg_wal").mkdir(parents=True)
    (old / "pg_wal" / "000000010000000000000007").write_bytes(b"tail")
    (old / "pg_wal" / "000000010000000000000006").write_bytes(b"old copy")
    (old / "pg_wal" / "00000002.history").write_text("1\t0/5000000\t-\n")
    (new / "pg_wal" / "000000010000000000000006").write_bytes(b"from the backup")
    assert _carry_wal(old, new) == 1, "only the segment the restore lacks"
    assert (new / "pg_wal" / "000000010000000000000007").read_bytes() == b"tail"
    assert (new / "pg_wal" / "000000010000000000000006").read_bytes() == b"from the backup"
    assert not (new / "pg_wal" / "00000002.history").exists(), "segments only"
    assert _carry_wal(tmp_path / "gone", new) == 0, "a destroyed directory has nothing to give"
    assert [p.name for p in _restore_paths(new)] == ["new", "new.restore-wal.sh", "new.wal-spool"]
    assert _with(["postgres", "-D", "/a", "-p", "5"], "-D", "/b") == [
        "postgres",
        "-D",
        "/b",
        "-p",
        "5",
    ]

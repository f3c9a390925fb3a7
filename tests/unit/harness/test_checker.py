"""The pipeline checker on crafted histories: each anomaly kind alone, and a clean-run property."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checkers import KINDS, Verdict, check
from harness.history import History, HistoryError, Op, OpFn, OpType

STAGE_IDS = {"segmented": 1, "running": 1, "completed": 2, "failed": 1, "archived": 3}


@dataclass(frozen=True)
class _Call:
    start: float
    end: float
    f: OpFn
    type: OpType
    command_id: str | None
    invoke_value: dict[str, Any] | None
    value: dict[str, Any] | None


class HistoryBuilder:
    """Histories by hand: each call is an invoke and its completion; workers are assigned at
    build time so that no worker has two calls in flight. `atlas` and `keys` are what the
    closing scan will report; they follow the calls and can be edited to corrupt the archive."""

    def __init__(self, step: float = 0.01) -> None:
        self.now, self.step = 0.0, step
        self.calls: list[_Call] = []
        self.atlas: dict[str, list[str]] = {}
        self.keys: dict[str, list[str]] = {}

    def _call(
        self,
        f: OpFn,
        type_: OpType,
        cid: str | None,
        inv: Any,
        value: Any,
        at: float | None = None,
        took: float | None = None,
    ) -> None:
        start = self.now if at is None else at
        end = start + (self.step if took is None else took)
        assert end > start, "a call must take some time, or its completion sorts before it"
        self.calls.append(_Call(start, end, f, type_, cid, inv, value))
        self.now = max(self.now, end + self.step)

    def accepted(self, key: str, *, cid: str | None = None, **when: float) -> str:
        cid = cid or f"c{len(self.calls) + 1}"
        ack = {"key": key, "status": "accepted"}
        self._call("submit", "ok", cid, {"key": key, "text": f"do {key}"}, ack, **when)
        self.keys.setdefault(key, []).append(cid)
        return cid

    def submit(self, key: str, outcome: OpType, **when: float) -> None:
        self._call("submit", outcome, None, {"key": key, "text": f"do {key}"}, None, **when)

    def read(
        self,
        cid: str,
        status: str,
        *,
        f: OpFn = "read",
        at: float | None = None,
        took: float | None = None,
        **fields: Any,
    ) -> None:
        """A status body with the ids its stage implies (`alt-<cid>`, ...); `fields` override."""
        body: dict[str, Any] = {"status": status}
        if status != "not-found":
            names = ("alt_id", "last_id", "atlas_id")[: STAGE_IDS.get(status, 0)]
            body |= {"id": cid, **{n: f"{n[:-3]}-{cid}" for n in names}, **fields}
            last = body.get("last_id")
            body.setdefault("final", status == "archived" or (status == "failed" and not last))
        if status == "archived" and body.get("atlas_id"):
            self.atlas.setdefault(cid, [body["atlas_id"]])
        self._call(f, "ok", cid, None, body, at, took)

    def final_read(self, cid: str, status: str, **kwargs: Any) -> None:
        self.read(cid, status, f="final-read", **kwargs)

    def build(self) -> list[Op]:
        events: list[tuple[float, bool, int, _Call]] = []  # (time, is invoke, worker, call)
        busy_until: list[float] = []  # per worker: when its current call ends
        for call in sorted(self.calls, key=lambda c: c.start):
            free = [w for w, t in enumerate(busy_until) if t < call.start]
            worker = free[0] if free else len(busy_until)
            busy_until[worker : worker + 1] = [call.end]
            events += [(call.start, True, worker, call), (call.end, False, worker, call)]
        ops: list[Op] = []
        for t, is_invoke, worker, c in sorted(events, key=lambda e: e[:2]):
            if is_invoke:
                cid = None if c.f == "submit" else c.command_id
                ops.append(Op(len(ops), worker, "invoke", c.f, t, cid, c.invoke_value))
            else:
                ops.append(Op(len(ops), worker, c.type, c.f, t, c.command_id, c.value))
        end = max((op.time for op in ops), default=0.0)
        # A deep copy: the scan must not change when a test edits the builder afterwards.
        scan = json.loads(
            json.dumps({"atlas_by_command": self.atlas, "commands_by_key": self.keys})
        )
        ops.append(Op(len(ops), -1, "invoke", "scan", end + 1))
        ops.append(Op(len(ops), -1, "ok", "scan", end + 2, value=scan))
        return ops


def archived_command(h: HistoryBuilder, key: str) -> str:
    cid = h.accepted(key)
    for status in ("segmented", "running", "completed"):
        h.read(cid, status)
    h.final_read(cid, "archived")
    return cid


def only(kind: str, n: int = 1) -> dict[str, int]:
    return {k: n if k == kind else 0 for k in KINDS}


def assert_only(verdict: Verdict, kind: str, n: int = 1) -> None:
    assert not verdict.valid, f"expected an invalid verdict, got:\n{verdict}"
    assert verdict.by_kind == only(kind, n), f"expected exactly {n} {kind}, got:\n{verdict}"


def test_clean_history_is_valid() -> None:
    h = HistoryBuilder()
    archived_command(h, "k1")
    archived_command(h, "k2")
    verdict = check(h.build())
    assert verdict.valid, f"expected a clean run to pass, got:\n{verdict}"
    assert verdict.by_kind == dict.fromkeys(KINDS, 0), "expected every kind, each with zero"
    expected = {"accepted": 2, "archived": 2, "submits_invoked": 2, "reads_ok": 6}
    assert {k: verdict.counts[k] for k in expected} == expected, f"counts: {verdict.counts}"


def test_lost_when_the_final_read_finds_nothing() -> None:
    h = HistoryBuilder()
    h.final_read(h.accepted("k1"), "not-found")
    assert_only(check(h.build()), "lost")


def test_lost_when_archived_but_missing_from_the_archive() -> None:
    h = HistoryBuilder()
    del h.atlas[archived_command(h, "k1")]
    assert_only(check(h.build()), "lost")


@pytest.mark.parametrize("where", ["two atlas records", "two ok submits", "scan by key"])
def test_duplicated(where: str) -> None:
    h = HistoryBuilder()
    cid = archived_command(h, "k1")
    if where == "two atlas records":
        h.atlas[cid].append("atlas-again")
    elif where == "two ok submits":
        archived_command(h, "k1")
    else:
        h.keys["k1"].append("c-twin")
    assert_only(check(h.build()), "duplicated")


@pytest.mark.parametrize("final", ["running", "completed", "failed with LAST"])
def test_stuck_when_not_final_after_recovery(final: str) -> None:
    h = HistoryBuilder()
    cid = h.accepted("k1")
    if final == "failed with LAST":
        h.final_read(cid, "failed", last_id="last-1")
    else:
        h.final_read(cid, final)
    assert_only(check(h.build()), "stuck")


def test_stuck_is_not_judged_inside_the_recovery_window() -> None:
    h = HistoryBuilder()
    h.final_read(h.accepted("k1", at=0.0), "running", at=1.0)
    verdict = check(h.build(), recovery_window_s=5.0)
    assert verdict.valid, f"expected a command 1s old not to be judged stuck:\n{verdict}"
    assert verdict.counts["stuck_unjudged"] == 1, "expected it counted as unjudged"


ILLEGAL: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "backwards": [("running", {}), ("segmented", {})],
    "vanished": [("segmented", {}), ("not-found", {})],
    "unknown status": [("teleported", {})],
    "archived without atlas": [("archived", {"atlas_id": None})],
    "completed without LAST": [("completed", {"last_id": None})],
    "running without ALT": [("running", {"alt_id": None})],
    "id changed": [("segmented", {"alt_id": "alt-other"})],
    "outcome flipped": [("failed", {"last_id": "last-c1"}), ("completed", {})],
    "final flag lies": [("running", {"final": True})],
}


@pytest.mark.parametrize("reads", ILLEGAL.values(), ids=ILLEGAL.keys())
def test_illegal_transition(reads: list[tuple[str, dict[str, Any]]]) -> None:
    h = HistoryBuilder()
    cid = h.accepted("k1")
    for status, ids in reads:
        h.read(cid, status, **ids)
    h.final_read(cid, "archived")
    assert_only(check(h.build()), "illegal_transition")


def test_overlapping_reads_may_disagree() -> None:
    h = HistoryBuilder()
    cid = h.accepted("k1", at=0.0)
    h.read(cid, "running", at=1.0, took=1.0)
    h.read(cid, "segmented", at=1.5, took=0.1)  # began before the other ended: not ordered
    h.final_read(cid, "archived", at=3.0)
    verdict = check(h.build())
    assert verdict.valid, f"expected concurrent reads not to be ordered:\n{verdict}"


@pytest.mark.parametrize("where", ["archive", "read", "key that failed"])
def test_phantom(where: str) -> None:
    h = HistoryBuilder()
    archived_command(h, "k1")
    if where == "archive":
        h.atlas["ghost"] = ["atlas-ghost"]
    elif where == "read":
        h.read("ghost", "segmented")
    else:
        h.submit("k2", "fail")
        h.keys["k2"] = ["ghost"]
    assert_only(check(h.build()), "phantom")


def test_rejected_is_not_lost() -> None:
    h = HistoryBuilder()
    h.final_read(h.accepted("k1"), "failed", detail="segmentation refused it")
    verdict = check(h.build())
    assert_only(verdict, "rejected")
    assert "segmentation refused it" in str(verdict), f"expected the detail shown:\n{verdict}"


def test_unknown_submit_resolved_by_its_key_is_checked_like_any_other() -> None:
    h = HistoryBuilder()
    h.submit("k1", "unknown")
    archived_command(h, "k1")  # the retry with the same key returns the command
    verdict = check(h.build())
    assert verdict.valid, f"expected the resolved command to be judged and pass:\n{verdict}"
    expected = {"submits_unknown": 1, "unknown_resolved": 1, "indeterminate": 0, "archived": 1}
    assert {k: verdict.counts[k] for k in expected} == expected, f"counts: {verdict.counts}"


@pytest.mark.parametrize("took_effect", [False, True])
def test_unresolved_unknown_submit_is_indeterminate(took_effect: bool) -> None:
    h = HistoryBuilder()
    h.submit("k1", "unknown")
    if took_effect:  # the archive has it, though the client never learned its id
        h.keys["k1"], h.atlas["c-hidden"] = ["c-hidden"], ["atlas-hidden"]
    verdict = check(h.build())
    assert verdict.valid, f"expected an unresolved unknown submit not to be an anomaly:\n{verdict}"
    assert verdict.counts["indeterminate"] == 1, f"expected 1 indeterminate: {verdict.counts}"
    assert verdict.counts["unknown_took_effect"] == took_effect, "expected the scan to show it"


def test_latency_percentiles() -> None:
    h = HistoryBuilder()
    for i in range(1, 11):  # submits take 10..100 ms; archived is seen 1 s after each ok
        cid = h.accepted(f"k{i}", at=10.0 * i, took=i / 100)
        h.final_read(cid, "archived", at=10.0 * i + i / 100 + 0.5, took=0.5)
    latency = check(h.build()).latency_ms
    submit, e2e = latency["submit"], latency["end_to_end"]
    expected = (10, 55.0, 95.5, 99.1, 100.0)
    assert (submit.n, submit.p50, submit.p95, submit.p99, submit.max) == pytest.approx(expected), (
        f"expected linear-interpolated percentiles of 10..100 ms, got {submit}"
    )
    assert (e2e.n, e2e.p50, e2e.max) == pytest.approx((10, 1000.0, 1000.0)), f"got {e2e}"


def test_history_round_trips_through_jsonl(tmp_path: Path) -> None:
    now = [100.0]
    history = History(clock=lambda: now[0])
    submit = history.invoke(0, "submit", value={"key": "k1", "text": "İstanbul'da hava"})
    read = history.invoke(1, "read", command_id="c0")
    now[0] += 0.25
    ok = history.complete(submit, "ok", command_id="c1", value={"key": "k1", "status": "accepted"})
    timeout = history.complete(read, "unknown", error="ReadTimeout")
    assert (ok.time, timeout.command_id) == (0.25, "c0"), "expected relative time and the read's id"
    history.to_jsonl(tmp_path / "history.jsonl")
    loaded = History.from_jsonl(tmp_path / "history.jsonl")
    assert loaded.ops == history.ops, "expected the same ops after a JSONL round trip"
    assert loaded.pairs() == [(submit, ok), (read, timeout)], "expected invokes paired by process"


def test_history_refuses_what_a_checker_cannot_pair() -> None:
    history = History()
    call = history.invoke(0, "read", command_id="c1")
    with pytest.raises(HistoryError, match="still waits"):
        history.invoke(0, "read", command_id="c2")
    history.complete(call, "ok", value={"status": "accepted"})
    with pytest.raises(HistoryError, match="not an open invocation"):
        history.complete(call, "ok")


def test_verdict_reads_well_and_serialises() -> None:
    h = HistoryBuilder()
    h.final_read(h.accepted("k1"), "not-found")
    verdict = check(h.build())
    text = str(verdict)
    assert text.startswith("INVALID") and "lost" in text, f"expected a verdict table:\n{text}"
    assert json.loads(json.dumps(verdict.to_json()))["by_kind"]["lost"] == 1, "expected JSON"


@st.composite
def clean_runs(draw: st.DrawFn) -> HistoryBuilder:
    """Commands read forward through the stages; each read sees the stage at some instant
    within its own call, so reads ordered in real time never go backwards."""
    h = HistoryBuilder()
    for i in range(draw(st.integers(1, 6))):
        cid = h.accepted(f"k{i}", at=draw(st.floats(0, 10)), took=draw(st.floats(0.001, 1)))
        outcome = draw(st.sampled_from(["completed", "failed"]))
        stages = ["accepted", "segmented", "running", outcome, "archived"]
        changes = [h.calls[-1].end]
        for _ in stages[1:]:
            changes.append(changes[-1] + draw(st.floats(0.001, 2)))
        for at in draw(st.lists(st.floats(changes[0], changes[-1] + 1), max_size=6)):
            status = stages[sum(1 for t in changes[1:] if t <= at)]
            before, after = draw(st.floats(0, 0.5)), draw(st.floats(0.001, 0.5))
            last: dict[str, Any] = {"last_id": f"last-{cid}"} if status == "failed" else {}
            h.read(cid, status, at=at - before, took=before + after, **last)
    for _ in range(draw(st.integers(0, 2))):  # submits that never took effect, or may have
        h.submit(f"k-lost-{len(h.calls)}", draw(st.sampled_from(["fail", "unknown"])))
    end = h.now
    for cid in [c for cids in h.keys.values() for c in cids]:
        h.final_read(cid, "archived", at=end + draw(st.floats(0, 1)))
    return h


CORRUPTIONS = {
    "drop atlas": "lost",
    "duplicate atlas": "duplicated",
    "read backwards": "illegal_transition",
    "phantom": "phantom",
}


@given(run=clean_runs(), corruption=st.sampled_from(sorted(CORRUPTIONS)), data=st.data())
def test_clean_runs_pass_and_one_corruption_is_caught(
    run: HistoryBuilder, corruption: str, data: st.DataObject
) -> None:
    verdict = check(run.build())
    assert verdict.valid, f"expected a clean history to pass:\n{verdict}"
    cid = data.draw(st.sampled_from(sorted(run.atlas)))
    if corruption == "drop atlas":
        del run.atlas[cid]
    elif corruption == "duplicate atlas":
        run.atlas[cid].append(f"atlas-{cid}-again")
    elif corruption == "read backwards":
        run.read(cid, data.draw(st.sampled_from(["accepted", "segmented", "running"])))
    else:
        run.atlas["ghost"] = ["atlas-ghost"]
    assert_only(check(run.build()), CORRUPTIONS[corruption])


def _failed_final_reads(h: HistoryBuilder, cid: str, errors: list[str]) -> list[Op]:
    """The history with final reads of `cid` that each failed with one of `errors`."""
    ops = h.build()
    scan = ops[-2:]
    ops = ops[:-2]
    t = ops[-1].time if ops else 0.0
    for error in errors:
        t += 0.01
        ops.append(Op(len(ops), 99, "invoke", "final-read", t, cid))
        t += 0.01
        ops.append(Op(len(ops), 99, "fail", "final-read", t, cid, error=error))
    return ops + [
        Op(len(ops) + i, s.process, s.type, s.f, t + 1 + i, s.command_id, s.value)
        for i, s in enumerate(scan)
    ]


def test_a_command_never_read_back_is_unknown_not_stuck() -> None:
    h = HistoryBuilder()
    archived_command(h, "k1")
    cid = h.accepted("k2")
    h.read(cid, "archived")  # read archived once, then every final read was refused
    verdict = check(_failed_final_reads(h, cid, ["HTTP 429"] * 4 + ["ReadTimeout: timed out"]))
    assert verdict.status == "UNKNOWN", f"expected UNKNOWN, not a verdict:\n{verdict}"
    assert verdict.by_kind == dict.fromkeys(KINDS, 0), f"expected no anomaly:\n{verdict}"
    assert not verdict.valid and verdict.exit_code == 3, "expected UNKNOWN to fail, with exit 3"
    [unread] = verdict.unread
    assert unread.command_id == cid
    assert dict(unread.errors) == {"HTTP 429": 4, "ReadTimeout": 1}, unread
    assert "not read back" in str(verdict) and "HTTP 429 ×4" in str(verdict), str(verdict)


def test_an_anomaly_outweighs_unread_commands() -> None:
    h = HistoryBuilder()
    h.final_read(h.accepted("k1"), "running")
    cid = h.accepted("k2")
    verdict = check(_failed_final_reads(h, cid, ["HTTP 503"]))
    assert verdict.status == "INVALID" and verdict.exit_code == 1, str(verdict)
    assert len(verdict.unread) == 1, str(verdict)


def test_a_failed_scan_is_unknown() -> None:
    h = HistoryBuilder()
    archived_command(h, "k1")
    ops = h.build()[:-2]
    t = ops[-1].time
    ops += [
        Op(len(ops), -1, "invoke", "scan", t + 1),
        Op(len(ops) + 1, -1, "fail", "scan", t + 2, error="scan: HTTPStatusError: HTTP 429"),
    ]
    verdict = check(ops)
    assert verdict.status == "UNKNOWN", f"expected an unscanned archive to be UNKNOWN:\n{verdict}"
    assert [(u.command_id, dict(u.errors)) for u in verdict.unread] == [
        (None, {"HTTPStatusError": 1})
    ]


def test_anomalies_are_grouped_by_kind_and_cause() -> None:
    h = HistoryBuilder()
    for n in range(7):
        h.final_read(h.accepted(f"r{n}"), "running")
    h.final_read(h.accepted("c1"), "completed")
    h.final_read(h.accepted("l1"), "not-found")
    verdict = check(h.build())
    groups = [(g.kind, g.cause, g.count, len(g.examples)) for g in verdict.groups()]
    assert groups == [
        ("lost", "accepted, then the final-read found nothing", 1, 1),
        ("stuck", "still running at the final-read", 7, 3),
        ("stuck", "still completed at the final-read", 1, 1),
    ], groups
    text = str(verdict)
    assert "stuck × 7: still running at the final-read" in text, text
    assert "… and 4 more" in text, text
    assert len(verdict.to_json()["anomalies"]) == 9, "expected every anomaly in the JSON"


def test_the_checker_and_the_gateway_read_one_status_order() -> None:
    # Defined once, in the status.changed schema (x-altlas-status-order).
    from harness import schemas as harness_schemas
    from harness.checkers.pipeline import STATUS_RANK
    from reference_services.common.schemas import status_rank
    from reference_services.gateway.commands import _RANK_SQL

    assert STATUS_RANK == status_rank() == harness_schemas.status_rank()
    order = ["accepted", "segmented", "running", "completed", "failed", "archived"]
    assert list(STATUS_RANK) == order
    assert STATUS_RANK["completed"] == STATUS_RANK["failed"] < STATUS_RANK["archived"]
    for status, rank in STATUS_RANK.items():
        assert f"WHEN '{status}' THEN {rank}" in _RANK_SQL


# --- judging through a restore to an earlier instant (harness.checkers.recovery) ------------


def _restore_run(*, lose_settled: bool) -> tuple[list[Op], float]:
    """Two commands archived before the recovery point, one after it (lost by the restore,
    as the window allows); with `lose_settled`, one from before is lost too."""
    h = HistoryBuilder()
    a = archived_command(h, "before-1")
    b = archived_command(h, "before-2")
    point = h.now + 0.05
    h.now += 0.1
    c = h.accepted("after")
    h.read(c, "archived")
    h.final_read(c, "not-found")
    del h.atlas[c]
    h.final_read(a, "not-found" if lose_settled else "archived")
    if lose_settled:
        del h.atlas[a]
    h.final_read(b, "archived")
    return h.build(), point


def test_a_restore_may_lose_only_what_came_after_its_recovery_point() -> None:
    from harness.checkers.recovery import judge_restore

    ops, point = _restore_run(lose_settled=False)
    judged = judge_restore(ops, point, margin_s=0)
    assert judged.settled == 2, f"two commands were archived before the point: {judged}"
    assert judged.eligible == 2 and judged.coverage == 1.0, "both accepted before it, both read"
    assert judged.valid, f"losing only the window's command is allowed: {judged}"
    assert judged.whole.by_kind["lost"] == 1, "the window's cost is still reported"
    assert "lost 1" in str(judged)


def test_a_restore_that_loses_a_command_from_before_its_recovery_point_is_a_breach() -> None:
    from harness.checkers.recovery import judge_restore

    ops, point = _restore_run(lose_settled=True)
    judged = judge_restore(ops, point, margin_s=0)
    assert not judged.valid, f"a command archived before the point vanished: {judged}"
    assert judged.kept.by_kind["lost"] == 1 and "BREACHED" in str(judged)

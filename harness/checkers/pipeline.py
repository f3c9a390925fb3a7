"""Judge the whole history of a pipeline run: was every accepted command archived exactly once?

Final reads and the closing scan (taken after faults healed and the system had time to
recover) are the ground truth for where each command ended; reads made while faults ran are
checked for legality: a status body is self-consistent, status never goes backwards in real
time, ids never change. An `unknown` submit nobody resolved is `indeterminate`, not an anomaly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from harness import schemas
from harness.checkers.verdict import KINDS, Anomaly, AnomalyKind, Latency, Unread, Verdict
from harness.history.model import OP_FNS, HistoryError, Op, pair_ops

# The order a command's status moves in, as the schemas declare it (x-altlas-status-order).
STATUS_RANK = schemas.status_rank()
NOT_FOUND = "not-found"
ID_FIELDS = ("alt_id", "last_id", "atlas_id")
_OUTCOMES = ("ok", "fail", "unknown")

__all__ = [
    "KINDS",
    "STATUS_RANK",
    "Anomaly",
    "AnomalyKind",
    "Latency",
    "Unread",
    "Verdict",
    "check",
]


@dataclass(frozen=True)
class _Read:
    index: int
    start: float
    end: float
    body: Mapping[str, Any]

    @property
    def status(self) -> Any:
        return self.body.get("status")

    @property
    def rank(self) -> int | None:
        # not-found ranks below accepted: a command once seen must never vanish again.
        if self.status == NOT_FOUND:
            return -1
        return STATUS_RANK.get(self.status) if isinstance(self.status, str) else None

    def ids(self) -> set[str]:
        return {name for name in ID_FIELDS if self.body.get(name)}

    def __str__(self) -> str:
        return f"op #{self.index} at {self.end:.3f}s"


def _is_final(body: Mapping[str, Any]) -> bool:
    status = body.get("status")
    return status == "archived" or (status == "failed" and not body.get("last_id"))


def _required_ids(status: str) -> tuple[str, ...]:
    if status == "archived":
        return ID_FIELDS
    if status == "completed":
        return ("alt_id", "last_id")
    # A stage may fail a command before segmentation produced an ALT.
    return ("alt_id",) if STATUS_RANK[status] >= 1 and status != "failed" else ()


Problem = tuple[str, str]  # (cause without ids or times, detail)


def _inconsistencies(cid: str, read: _Read) -> Iterable[Problem]:
    """What one status body claims that cannot be true on its own ("skipped" a stage)."""
    body, status = read.body, read.status
    if status == NOT_FOUND:
        return
    if not isinstance(status, str) or status not in STATUS_RANK:
        yield "unknown status", f"unknown status {status!r} ({read})"
        return
    for n in _required_ids(status):
        if not body.get(n):
            yield f"{status} without {n}", f"{status} without {n} ({read})"
    if "final" in body and bool(body["final"]) != _is_final(body):
        what = f"{status} with final={body['final']}"
        yield what, f"{what} ({read})"
    if body.get("id", cid) != cid:
        yield "body of another command", f"body is for command {body['id']} ({read})"


def _transitions(cid: str, reads: Sequence[_Read]) -> list[Problem]:
    problems = [p for read in reads for p in _inconsistencies(cid, read)]
    by_end = sorted(reads, key=lambda r: r.end)
    first_seen: dict[str, Any] = {}
    for read in by_end:
        for name in sorted(read.ids()):
            value = read.body[name]
            if first_seen.setdefault(name, value) != value:
                detail = f"{name} changed from {first_seen[name]} to {value} ({read})"
                problems.append((f"{name} changed", detail))
    # Only reads ordered in real time constrain each other: one that began after another ended
    # must not see less. Overlapping reads (two workers) may legitimately disagree.
    done, best, best_rank = 0, None, -2
    outcomes: set[str] = set()
    ids_before: set[str] = set()
    for read in sorted(reads, key=lambda r: r.start):
        while done < len(by_end) and by_end[done].end < read.start:
            before = by_end[done]
            done += 1
            if before.rank is not None and before.rank > best_rank:
                best, best_rank = before, before.rank
            outcomes |= {before.status} & {"completed", "failed"}
            ids_before |= before.ids()
        if read.rank is None or best is None:
            continue
        if read.rank < best_rank:
            detail = f"{best.status} ({best}) then {read.status} ({read})"
            problems.append((f"{best.status} then {read.status}", detail))
        elif read.status in {"completed", "failed"} and outcomes - {read.status}:
            what = f"outcome changed to {read.status}"
            problems.append((what, f"{what} ({read})"))
        elif read.status != NOT_FOUND and (gone := sorted(ids_before - read.ids())):
            what = f"{', '.join(gone)} disappeared"
            problems.append((what, f"{what} ({read})"))
    return problems


def _fate(
    cid: str, accepted: float, final: _Read, atlas: Mapping[str, Sequence[str]] | None
) -> Anomaly | None:
    """What went wrong with where an accepted command ended (None: archived, as it should be)."""
    age = final.start - accepted
    if final.status == NOT_FOUND:
        detail = f"accepted, then the final-read found nothing ({final})"
        return Anomaly("lost", cid, detail, "accepted, then the final-read found nothing")
    if final.status == "failed" and _is_final(final.body):
        why = final.body.get("detail") or "no detail given"
        detail = f"failed before execution produced a LAST ({final}): {why}"
        return Anomaly("rejected", cid, detail, f"failed before execution: {why}")
    if not _is_final(final.body):
        detail = f"still {final.status} at the final-read, {age:.1f}s after accepted"
        return Anomaly("stuck", cid, detail, f"still {final.status} at the final-read")
    if atlas is not None and not atlas.get(cid):
        detail = f"archived as {final.body.get('atlas_id')} but not in the archive scan"
        return Anomaly("lost", cid, detail, "archived, but not in the archive scan")
    return None


@dataclass
class _Run:
    """What the history says, indexed by command id and by idempotency key."""

    counts: dict[str, int]
    accepted_at: dict[str, float] = field(default_factory=dict)  # earliest ok submit
    outcomes_by_key: defaultdict[Any, set[str]] = field(default_factory=lambda: defaultdict(set))
    ids_by_key: defaultdict[Any, dict[str, None]] = field(default_factory=lambda: defaultdict(dict))
    reads: defaultdict[str, list[_Read]] = field(default_factory=lambda: defaultdict(list))
    final_reads: dict[str, _Read] = field(default_factory=dict)  # the last one per command
    scan: Mapping[str, Any] | None = None
    scan_errors: dict[str, int] | None = None  # a scan was attempted and none succeeded
    final_errors: defaultdict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # failed final reads per command: error kind → count
    unknown_keys: list[Any] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, history: Sequence[Op]) -> _Run:
        run = cls(dict.fromkeys((f"{_name(f)}s_{o}" for f in OP_FNS for o in _OUTCOMES), 0))
        for invoke, done in pair_ops(sorted(history, key=lambda op: op.index)):
            outcome = "unknown" if done is None else done.type
            run.counts[f"{_name(invoke.f)}s_{outcome}"] += 1
            key = (invoke.value or {}).get("key")
            if invoke.f == "submit":
                run.outcomes_by_key[key].add(outcome)
                run.unknown_keys += [key] if outcome == "unknown" else []
            if done is not None and done.type == "ok":
                run._ok(invoke, done, key)
            elif invoke.f in ("final-read", "scan"):
                run._failed(invoke, done)
        return run

    def _failed(self, invoke: Op, done: Op | None) -> None:
        error = "no completion" if done is None else _error_kind(done.error)
        if invoke.f == "scan":
            if self.scan is None:
                errors = self.scan_errors = self.scan_errors or {}
                errors[error] = errors.get(error, 0) + 1
            return
        if invoke.command_id is not None:
            errors = self.final_errors[invoke.command_id]
            errors[error] = errors.get(error, 0) + 1

    def _ok(self, invoke: Op, done: Op, key: Any) -> None:
        if invoke.f == "scan":
            self.scan = done.value or {}
            self.scan_errors = None
            return
        cid = done.command_id
        if cid is None:
            raise HistoryError(f"op #{done.index}: an ok {done.f} without a command id")
        if invoke.f == "submit":
            self.ids_by_key[key][cid] = None  # a dict as an ordered set
            self.accepted_at[cid] = min(self.accepted_at.get(cid, done.time), done.time)
            self.submit_ms.append((done.time - invoke.time) * 1000)
            return
        read = _Read(done.index, invoke.time, done.time, done.value or {})
        self.reads[cid].append(read)
        last = self.final_reads.get(cid)
        if invoke.f == "final-read" and (last is None or last.end < read.end):
            self.final_reads[cid] = read

    @property
    def atlas(self) -> Mapping[str, Sequence[str]]:
        return cast(Mapping[str, Sequence[str]], (self.scan or {}).get("atlas_by_command", {}))

    @property
    def scan_keys(self) -> Mapping[Any, Sequence[str]]:
        return cast(Mapping[Any, Sequence[str]], (self.scan or {}).get("commands_by_key", {}))


def _name(f: str) -> str:
    return f.replace("-", "_")


def _error_kind(error: str | None) -> str:
    """ "HTTP 429", "ReadTimeout", … — an error without its changing details."""
    if not error:
        return "unknown error"
    return error.removeprefix("scan: ").split(":")[0].strip() or "unknown error"


def _illegal(run: _Run) -> Iterator[Anomaly]:
    for cid, reads in run.reads.items():
        if problems := _transitions(cid, reads):
            more = f"; … {len(problems) - 3} more" if len(problems) > 3 else ""
            detail = "; ".join(d for _, d in problems[:3]) + more
            yield Anomaly("illegal_transition", cid, detail, problems[0][0])


def _duplicates(run: _Run) -> Iterator[Anomaly]:
    for cid, atlas_ids in run.atlas.items():
        if len(distinct := list(dict.fromkeys(atlas_ids))) > 1:
            detail = f"{len(distinct)} archive records: {', '.join(distinct)}"
            yield Anomaly("duplicated", cid, detail, "one command, several archive records")
    by_key = {key: dict(cids) for key, cids in run.ids_by_key.items()}
    for key, cids in run.scan_keys.items():
        by_key.setdefault(key, {}).update(dict.fromkeys(cids))
    for key, ids in by_key.items():
        if len(ids) > 1:
            detail = f"idempotency key {key!r} maps to {len(ids)} commands: {', '.join(ids)}"
            yield Anomaly("duplicated", None, detail, "one idempotency key, several commands")


def _explained(run: _Run) -> set[str]:
    # A command filed under one of our keys whose submit may have worked is explained by that
    # submit (a second one is a duplicate, not a phantom); under a key that only failed, it is not.
    maybe = {key for key, outcomes in run.outcomes_by_key.items() if outcomes - {"fail"}}
    by_maybe_key = (cids for key, cids in run.scan_keys.items() if key in maybe)
    return set(run.accepted_at).union(*by_maybe_key)


def _phantoms(run: _Run, explained: set[str]) -> Iterator[Anomaly]:
    seen = {cid: f"commands_by_key[{k!r}]" for k, cids in run.scan_keys.items() for cid in cids}
    seen |= {cid: "the archive scan" for cid in run.atlas}
    seen |= {cid: f"read {reads[0]}" for cid, reads in run.reads.items()}
    for cid, where in seen.items():
        if cid not in explained:
            detail = f"no ok submit returned it; seen in {where}"
            yield Anomaly("phantom", cid, detail, "no ok submit returned it")


def _fates(run: _Run, recovery_window_s: float | None, unread: list[Unread]) -> Iterator[Anomaly]:
    atlas = run.atlas if run.scan is not None else None
    for cid, accepted in run.accepted_at.items():
        final = run.final_reads.get(cid)
        if final is None:
            # Not knowing where a command ended must not pass for a clean run, nor be called
            # stuck: the harness could not read it, which says nothing of the system.
            unread.append(Unread(cid, dict(run.final_errors.get(cid, {}))))
            continue
        anomaly = _fate(cid, accepted, final, atlas)
        run.counts["archived"] += final.status == "archived"
        too_soon = recovery_window_s is not None and final.start - accepted < recovery_window_s
        if anomaly is not None and anomaly.kind == "stuck" and too_soon:
            run.counts["stuck_unjudged"] += 1
        elif anomaly is not None:
            yield anomaly


def check(history: Sequence[Op], *, recovery_window_s: float | None = None) -> Verdict:
    """Judge a complete history (final reads and scan included); raise HistoryError if it
    breaks the invoke/complete protocol, since no verdict on such a history could be trusted.

    With `recovery_window_s`, a command whose final read began less than that long after it
    was accepted had no fair chance to finish: it is counted as `stuck_unjudged`, not stuck.
    """
    run = _Run.of(history)
    run.counts.update(archived=0, stuck_unjudged=0)
    explained = _explained(run)
    unread: list[Unread] = []
    found = [
        *_illegal(run),
        *_duplicates(run),
        *_phantoms(run, explained),
        *_fates(run, recovery_window_s, unread),
    ]
    if run.scan_errors is not None:
        unread.append(Unread(None, run.scan_errors))
    resolved = sum(1 for key in run.unknown_keys if "ok" in run.outcomes_by_key[key])
    run.counts.update(
        submits_invoked=sum(run.counts[f"submits_{o}"] for o in _OUTCOMES),
        accepted=len(run.accepted_at),
        unknown_resolved=resolved,
        indeterminate=len(run.unknown_keys) - resolved,
        unread=len(unread),
        unknown_took_effect=len(explained - set(run.accepted_at)),
    )
    end_to_end_ms = [
        (min(archived) - accepted) * 1000
        for cid, accepted in run.accepted_at.items()
        if (archived := [r.end for r in run.reads.get(cid, ()) if r.status == "archived"])
    ]
    order = {kind: i for i, kind in enumerate(KINDS)}
    return Verdict(
        anomalies=tuple(sorted(found, key=lambda a: order[a.kind])),
        counts=dict(sorted(run.counts.items())),
        latency_ms={"submit": Latency.of(run.submit_ms), "end_to_end": Latency.of(end_to_end_ms)},
        scanned=run.scan is not None,
        unread=tuple(unread),
    )

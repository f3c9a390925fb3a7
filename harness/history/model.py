"""Operations and the append-only history a workload records while faults run.

An `Op` is one event: the invocation of a client call or its completion. `History` hands out
indexes and times and refuses sequences a checker could not make sense of (a process with two
calls in flight, a completion without its invocation). Pure apart from the two JSONL functions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from harness.errors import HarnessError

OpType = Literal["invoke", "ok", "fail", "unknown"]
"""`unknown`: the client cannot tell whether the call took effect (timeout, 5xx, reset)."""
OpFn = Literal["submit", "read", "final-read", "scan"]

OP_TYPES: tuple[OpType, ...] = get_args(OpType)
OP_FNS: tuple[OpFn, ...] = get_args(OpFn)


class HistoryError(HarnessError):
    """A history that breaks the invoke/complete protocol, or a record that is not an op."""


@dataclass(frozen=True)
class Op:
    """One event of the history; `time` is monotonic seconds since the history started."""

    index: int
    process: int
    type: OpType
    f: OpFn
    time: float
    command_id: str | None = None
    value: Mapping[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "process": self.process,
            "type": self.type,
            "f": self.f,
            "time": self.time,
            "command_id": self.command_id,
            "value": None if self.value is None else dict(self.value),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Op:
        type_, f = data.get("type"), data.get("f")
        if type_ not in OP_TYPES or f not in OP_FNS:
            raise HistoryError(f"not an op (type={type_!r}, f={f!r}): {dict(data)!r}")
        try:
            return cls(
                index=int(data["index"]),
                process=int(data["process"]),
                type=type_,
                f=f,
                time=float(data["time"]),
                command_id=data.get("command_id"),
                value=data.get("value"),
                error=data.get("error"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HistoryError(f"not an op ({type(exc).__name__}: {exc}): {dict(data)!r}") from exc


def pair_ops(ops: Iterable[Op]) -> list[tuple[Op, Op | None]]:
    """Each invocation with its completion, in invocation order; None if it never completed.

    Completions are matched per process, which is sound because a process has at most one call
    in flight (Jepsen's rule; a worker that gave up on a call starts a new one only after).
    """
    pairs: list[tuple[Op, Op | None]] = []
    open_: dict[int, int] = {}  # process -> position of its outstanding invoke in `pairs`
    for op in ops:
        at = open_.pop(op.process, None)
        if op.type == "invoke":
            if at is not None:
                raise HistoryError(f"op #{op.index}: process {op.process} already has a call open")
            open_[op.process] = len(pairs)
            pairs.append((op, None))
            continue
        if at is None:
            raise HistoryError(f"op #{op.index}: {op.type} on process {op.process} has no invoke")
        invoke = pairs[at][0]
        if invoke.f != op.f:
            raise HistoryError(f"op #{op.index}: completes a {invoke.f!r} with a {op.f!r}")
        pairs[at] = (invoke, op)
    return pairs


class History:
    """Append-only recorder for one run; meant for one event loop, so it takes no locks."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._ops: list[Op] = []
        self._open: dict[int, Op] = {}

    @classmethod
    def from_ops(cls, ops: Iterable[Op]) -> History:
        """Rebuild a history (e.g. a loaded one), checking the same rules as recording does."""
        history = cls()
        for op in ops:
            history._append(op)
        return history

    @property
    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops)

    @property
    def started(self) -> float:
        """The clock's reading when the history started: op times count from it."""
        return self._start

    def __len__(self) -> int:
        return len(self._ops)

    def invoke(
        self,
        process: int,
        f: OpFn,
        command_id: str | None = None,
        value: Mapping[str, Any] | None = None,
    ) -> Op:
        return self._append(self._op(process, "invoke", f, command_id, value, None))

    def complete(
        self,
        invoke_op: Op,
        type: OpType,
        command_id: str | None = None,
        value: Mapping[str, Any] | None = None,
        error: str | None = None,
    ) -> Op:
        """Record how `invoke_op` ended; the command id defaults to the invocation's."""
        if type == "invoke":
            raise HistoryError("a completion's type is ok, fail or unknown, not invoke")
        if self._open.get(invoke_op.process) != invoke_op:
            raise HistoryError(f"op #{invoke_op.index} is not an open invocation of this history")
        cid = command_id if command_id is not None else invoke_op.command_id
        op = self._op(invoke_op.process, type, invoke_op.f, cid, value, error)
        return self._append(op)

    def pairs(self) -> list[tuple[Op, Op | None]]:
        return pair_ops(self._ops)

    def to_jsonl(self, path: Path | str) -> None:
        write_jsonl(self._ops, path)

    @classmethod
    def from_jsonl(cls, path: Path | str) -> History:
        return cls.from_ops(read_jsonl(path))

    def _op(
        self,
        process: int,
        type: OpType,
        f: OpFn,
        command_id: str | None,
        value: Mapping[str, Any] | None,
        error: str | None,
    ) -> Op:
        # A copy, so a caller that reuses or mutates its dict cannot rewrite what was recorded.
        recorded = None if value is None else dict(value)
        now = self._clock() - self._start
        return Op(len(self._ops), process, type, f, now, command_id, recorded, error)

    def _append(self, op: Op) -> Op:
        if op.index != len(self._ops):
            raise HistoryError(f"op #{op.index} recorded at position {len(self._ops)}")
        open_invoke = self._open.get(op.process)
        if op.type == "invoke":
            if open_invoke is not None:
                raise HistoryError(
                    f"op #{op.index}: process {op.process} still waits on op #{open_invoke.index}"
                )
            self._open[op.process] = op
        elif open_invoke is None or open_invoke.f != op.f:
            raise HistoryError(f"op #{op.index}: {op.type} {op.f!r} without a matching invoke")
        else:
            del self._open[op.process]
        self._ops.append(op)
        return op


def write_jsonl(ops: Sequence[Op], path: Path | str) -> None:
    """One op per line, so a history cut short by a crash is still readable up to the crash."""
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(json.dumps(op.to_json(), ensure_ascii=False) + "\n")


def read_jsonl(path: Path | str) -> list[Op]:
    ops: list[Op] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise HistoryError(f"not an op: {data!r}")
                ops.append(Op.from_json(data))
            except (ValueError, HistoryError) as exc:
                raise HistoryError(f"{path}:{lineno}: {exc}") from exc
    return ops

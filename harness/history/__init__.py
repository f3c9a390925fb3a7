"""The recorded history of a chaos run: operations a workload invoked and how each completed.

Jepsen's model: every client call is an `invoke` followed by exactly one completion (`ok`,
`fail` or `unknown`) on the same process; a checker judges the whole history afterwards.
"""

from harness.history.model import (
    OP_FNS,
    OP_TYPES,
    History,
    HistoryError,
    Op,
    OpFn,
    OpType,
    pair_ops,
    read_jsonl,
    write_jsonl,
)

__all__ = [
    "OP_FNS",
    "OP_TYPES",
    "History",
    "HistoryError",
    "Op",
    "OpFn",
    "OpType",
    "pair_ops",
    "read_jsonl",
    "write_jsonl",
]

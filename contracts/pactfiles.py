"""Pact files on disk: where they live, which provider each names, and how two compare.

A pact file is the contract; what makes two files the same contract is everything except the
versions of the library that wrote them. Interactions are compared in a stable order, so the order
in which consumer tests happened to run never makes a difference.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Final

__all__ = ["PACTS_DIR", "comparable", "drift", "load", "pact_files", "provider_of"]

PACTS_DIR: Final = Path(__file__).resolve().parent / "pacts"
# metadata.pactRust / pactPython: versions of the writer, not part of the contract.
_VOLATILE_METADATA: Final = ("pactRust", "pactPython")
_DIFF_LINES: Final = 60


def load(path: Path) -> dict[str, Any]:
    pact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return pact


def provider_of(path: Path) -> str:
    return str(load(path)["provider"]["name"])


def pact_files(directory: Path, provider: str | None = None) -> list[Path]:
    """The pact files in `directory`, by name; only those of `provider` if given."""
    files = sorted(directory.glob("*.json"))
    return [f for f in files if provider is None or provider_of(f) == provider]


def _interaction_key(interaction: dict[str, Any]) -> str:
    return json.dumps(
        [
            interaction.get("type"),
            interaction.get("description"),
            interaction.get("providerStates"),
        ],
        sort_keys=True,
        ensure_ascii=False,
    )


def comparable(pact: dict[str, Any]) -> dict[str, Any]:
    """The contract in `pact`, without the writer's versions and with interactions in order."""
    metadata = {k: v for k, v in pact.get("metadata", {}).items() if k not in _VOLATILE_METADATA}
    interactions = sorted(pact.get("interactions", []), key=_interaction_key)
    return {**pact, "metadata": metadata, "interactions": interactions}


def _lines(path: Path) -> list[str]:
    text = json.dumps(comparable(load(path)), indent=2, sort_keys=True, ensure_ascii=False)
    return text.splitlines(keepends=True)


def drift(committed_dir: Path, generated_dir: Path) -> list[str]:
    """Each way the committed pacts differ from the generated ones, with a short diff."""
    committed = {p.name: p for p in pact_files(committed_dir)}
    generated = {p.name: p for p in pact_files(generated_dir)}
    problems = [
        f"{name}: committed, but no consumer test produces it any more"
        for name in sorted(committed.keys() - generated.keys())
    ]
    problems += [
        f"{name}: the consumer tests produce it, but it is not committed"
        for name in sorted(generated.keys() - committed.keys())
    ]
    for name in sorted(committed.keys() & generated.keys()):
        if comparable(load(committed[name])) == comparable(load(generated[name])):
            continue
        diff = list(
            difflib.unified_diff(
                _lines(committed[name]),
                _lines(generated[name]),
                fromfile=f"committed {name}",
                tofile=f"generated {name}",
            )
        )
        shown = "".join(diff[:_DIFF_LINES])
        more = f"\n… {len(diff) - _DIFF_LINES} more diff lines" if len(diff) > _DIFF_LINES else ""
        problems.append(f"{name}: differs from what the consumers now produce:\n{shown}{more}")
    return problems

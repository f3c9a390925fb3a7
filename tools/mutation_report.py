"""Per-module mutation scores from mutmut's results, as a table, JSON and Markdown.

Run by `make mutation` after `mutmut run`. It reads only what mutmut wrote (`mutants/*.meta`)
and the module list in pyproject.toml's [tool.mutmut] only_mutate; it never imports service
code. Writes reports/mutation/report.json and report.md, and exits 1 when a module scores
below the threshold or was not fully checked.

Score = (killed + timeout + caught by type check) / (all mutants - skipped). A mutant with no
covering test counts against the score: untested code is exactly what this should expose.
Survivors are listed with their diff and whether docs/mutation.md explains them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

KILLED: Final = frozenset({"killed", "timeout", "caught by type check"})
NOT_SCORED: Final = frozenset({"skipped"})
UNFINISHED: Final = frozenset({"not checked", "check was interrupted by user"})
EXPLANATIONS: Final = Path("docs/mutation.md")
# In docs/mutation.md a survivor is named by its mutmut function key (`x__key__mutmut_14`)
# under a `## path/to/module.py` heading: keys alone repeat across modules.
_HEADING: Final = re.compile(r"^## +`?([\w/.]+\.py)`?", re.MULTILINE)
_KEY: Final = re.compile(r"\bx[_ǁ][\wǁ]*__mutmut_\d+\b")


@dataclass
class Survivor:
    name: str
    status: str
    explained: bool
    diff: list[str]


@dataclass
class ModuleScore:
    module: str
    counts: dict[str, int]
    total: int
    scored: int
    killed: int
    score: float
    survivors: list[Survivor] = field(default_factory=list)

    @property
    def unfinished(self) -> int:
        return sum(self.counts.get(s, 0) for s in UNFINISHED)


def explained_mutants(doc: str) -> set[tuple[str, str]]:
    """(module path, mutant key) pairs that docs/mutation.md explains."""
    explained: set[tuple[str, str]] = set()
    headings = list(_HEADING.finditer(doc))
    for n, heading in enumerate(headings):
        end = headings[n + 1].start() if n + 1 < len(headings) else len(doc)
        section = doc[heading.end() : end]
        explained.update((heading.group(1), key) for key in _KEY.findall(section))
    return explained


def modules_to_score(pyproject: Path) -> list[str]:
    config = tomllib.loads(pyproject.read_text("utf-8"))
    modules: list[str] = config["tool"]["mutmut"]["only_mutate"]
    return modules


def changed_lines(name: str, path: str) -> list[str]:
    """The -/+ lines of a mutant's diff; the whole function would drown the one change."""
    try:
        diff = get_diff_for_mutant(name, path=path)
    except (FileNotFoundError, OSError) as exc:
        return [f"(diff unavailable: {exc})"]
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]


def score_module(path: str, explained: set[tuple[str, str]]) -> ModuleScore:
    meta_path = Path("mutants") / f"{path}.meta"
    if not meta_path.exists():
        raise SystemExit(f"no mutmut results for {path} ({meta_path}); run `mutmut run` first")
    meta: dict[str, Any] = json.loads(meta_path.read_text("utf-8"))
    statuses = {name: status_by_exit_code[code] for name, code in meta["exit_code_by_key"].items()}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    scored = sum(n for s, n in counts.items() if s not in NOT_SCORED)
    killed = sum(n for s, n in counts.items() if s in KILLED)
    survivors = [
        Survivor(
            name, status, (path, name.rsplit(".", 1)[-1]) in explained, changed_lines(name, path)
        )
        for name, status in sorted(statuses.items())
        # Unchecked mutants are no survivors: the run is incomplete, which main() reports.
        if status not in KILLED | NOT_SCORED | UNFINISHED
    ]
    return ModuleScore(
        module=path,
        counts=dict(sorted(counts.items())),
        total=len(statuses),
        scored=scored,
        killed=killed,
        # Nothing to kill is not a failure of the tests: an empty module scores 100%.
        score=100.0 * killed / scored if scored else 100.0,
        survivors=survivors,
    )


def table(scores: list[ModuleScore]) -> list[str]:
    header = f"{'module':<46} {'killed':>6} {'timeout':>7} {'survived':>8} {'other':>5}"
    header += f" {'total':>5} {'score':>7}"
    rows = [header, "-" * len(header)]
    for s in scores:
        timeout = s.counts.get("timeout", 0)
        survived = s.counts.get("survived", 0)
        other = s.scored - s.killed - survived
        rows.append(
            f"{s.module:<46} {s.killed - timeout:>6} {timeout:>7} {survived:>8} {other:>5}"
            f" {s.total:>5} {s.score:>6.1f}%"
        )
    return rows


def markdown(scores: list[ModuleScore], threshold: float, elapsed_s: float | None) -> str:
    lines = ["# Mutation testing report", ""]
    lines.append(f"Threshold: {threshold:.0f}% killed per module (mutmut {_mutmut_version()}).")
    if elapsed_s is not None:
        lines.append(f"`mutmut run` took {elapsed_s / 60:.1f} min.")
    lines += ["", "```", *table(scores), "```", ""]
    lines.append("Explanations of accepted survivors: `docs/mutation.md`.")
    for s in scores:
        if not s.survivors:
            continue
        lines += ["", f"## {s.module}: {len(s.survivors)} not killed", ""]
        for survivor in s.survivors:
            note = "explained" if survivor.explained else "**not explained**"
            lines.append(f"- `{survivor.name}` ({survivor.status}, {note})")
            lines += ["", "  ```diff", *(f"  {line}" for line in survivor.diff), "  ```", ""]
    return "\n".join(lines) + "\n"


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threshold", type=float, default=80.0, help="minimum score, percent")
    parser.add_argument("--out", type=Path, default=Path("reports/mutation"))
    parser.add_argument("--elapsed", type=float, help="seconds `mutmut run` took, for the report")
    args = parser.parse_args(argv)

    doc = EXPLANATIONS.read_text("utf-8") if EXPLANATIONS.exists() else ""
    explained = explained_mutants(doc)
    scores = [score_module(m, explained) for m in modules_to_score(Path("pyproject.toml"))]

    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mutmut_version": _mutmut_version(),
        "threshold": args.threshold,
        "elapsed_s": args.elapsed,
        "modules": [asdict(s) for s in scores],
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.out / "report.md").write_text(markdown(scores, args.threshold, args.elapsed))

    print("\n".join(table(scores)))
    unexplained = sum(not v.explained for s in scores for v in s.survivors)
    print(f"\nreport: {args.out / 'report.md'} ({unexplained} survivors not in {EXPLANATIONS})")
    failures = [
        f"{s.module}: {s.score:.1f}% < {args.threshold:.0f}%"
        for s in scores
        if s.score < args.threshold
    ] + [f"{s.module}: {s.unfinished} mutants not checked" for s in scores if s.unfinished]
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Coverage of `make test`'s main session, the harness and the services apart, against floors.

    python tools/coverage_summary.py reports/coverage --floor harness=70 \
        --floor reference_services=60

Reads `coverage.json` (from `coverage json`), writes `summary.json` beside it (per package and
per module: statements, branches, covered, percent) for the report index, prints the packages'
figures and the ten least covered modules of each, and exits 1 when a package is under its
floor. Percent is coverage.py's own (lines and branches together, with `branch = true`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WORST = 10


def _pct(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    packages: dict[str, dict[str, Any]] = {}
    for path, entry in sorted(data["files"].items()):
        package = path.split("/", 1)[0]
        s = entry["summary"]
        module = {
            "module": path,
            "statements": s["num_statements"],
            "branches": s.get("num_branches", 0),
            "covered": s["covered_lines"] + s.get("covered_branches", 0),
            "total": s["num_statements"] + s.get("num_branches", 0),
        }
        module["percent"] = round(_pct(module["covered"], module["total"]), 1)
        empty = {"package": package, "covered": 0, "total": 0, "modules": []}
        p = packages.setdefault(package, empty)
        p["covered"] += module["covered"]
        p["total"] += module["total"]
        p["modules"].append(module)
    for p in packages.values():
        p["percent"] = round(_pct(p["covered"], p["total"]), 1)
    return {"packages": list(packages.values())}


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv and not argv[0].startswith("--") else Path("reports/coverage")
    floors: dict[str, float] = {}
    for i, arg in enumerate(argv):
        if arg == "--floor":
            name, _, value = argv[i + 1].partition("=")
            floors[name] = float(value)
    source = folder / "coverage.json"
    if not source.exists():
        print(f"no {source}: did the main session run with --cov and `coverage json`?")
        return 1
    summary = summarise(json.loads(source.read_text()))
    summary["floors"] = floors
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    failed = []
    for p in summary["packages"]:
        floor = floors.get(p["package"])
        verdict = "" if floor is None else (" ok" if p["percent"] >= floor else " BELOW")
        against = "" if floor is None else f", floor {floor:.0f}%"
        print(
            f"coverage {p['package']}: {p['percent']:.1f}% of lines and branches"
            f" ({p['covered']}/{p['total']}){against}{verdict}"
        )
        worst = sorted(p["modules"], key=lambda m: m["percent"])[:WORST]
        print("  least covered: " + ", ".join(f"{m['module']} {m['percent']:.0f}%" for m in worst))
        if floor is not None and p["percent"] < floor:
            failed.append(p["package"])
    missing = set(floors) - {p["package"] for p in summary["packages"]}
    if missing:
        print(f"no coverage data for {sorted(missing)}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

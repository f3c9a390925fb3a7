"""`make audit`: pip-audit of every package in uv.lock, and a plain statement of what it could
not audit.

pip-audit looks each pinned version up in a vulnerability database (PyPI's per-version JSON by
default, or OSV). Where that database cannot be reached — a registry mirror without the
per-version API, no route to osv.dev — pip-audit reports each package as "not found" and, left
alone, exits 0: a pass that audited nothing. This wrapper says how many packages were audited,
lists every known vulnerability, and exits 0 (audited, none found), 1 (vulnerabilities), or
3 (not audited: the database was out of reach).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UV = ROOT / ".tools" / "bin" / "uv"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "requirements.txt"
        export = [str(UV), "export", "--frozen", "--no-hashes", "--no-emit-project"]
        with reqs.open("w") as out:
            export += ["--format", "requirements-txt"]
            subprocess.run(export, stdout=out, check=True, cwd=ROOT)
        done = subprocess.run(
            [str(PIP_AUDIT), "--no-deps", "--disable-pip", "-r", str(reqs), "-f", "json",
             "--progress-spinner", "off", *sys.argv[1:]],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    try:
        deps = json.loads(done.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        print(f"pip-audit failed ({done.returncode}):\n{done.stderr[-3000:]}", file=sys.stderr)
        return 2
    skipped = [d for d in deps if "skip_reason" in d]
    vulns = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
    audited = len(deps) - len(skipped)
    print(
        f"pip-audit: {audited} of {len(deps)} locked packages audited,"
        f" {len(vulns)} known vulnerabilities"
    )
    for name, version, v in vulns:
        fixes = ", ".join(v.get("fix_versions") or []) or "no fixed version"
        print(f"  {name} {version}: {v['id']} ({fixes})")
    if skipped:
        more = " …" if len(skipped) > 1 else ""
        print(f"  not audited ({len(skipped)}): {skipped[0]['skip_reason']}{more}")
    if vulns:
        return 1
    if audited == 0:
        print(
            "NOT AUDITED: pip-audit could not reach its vulnerability database from here"
            " (PyPI's per-version JSON or osv.dev); run `make audit` where it can."
        )
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

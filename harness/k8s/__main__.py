"""`python -m harness.k8s`: render every overlay and component combination, validate it and run
the policies, and print one line per render. `make k8s-check` runs the same checks as tests
(with the settings checks, which need the services' settings classes); this is the quick look.
"""

from __future__ import annotations

import sys
import time

from harness.k8s import policy, render
from harness.k8s.validate import validate_all, versions


def main() -> int:
    started = time.perf_counter()
    rendered = render.render_all()
    took = time.perf_counter() - started
    failed = False
    print(f"rendered {len(rendered)} builds in {took:.1f}s; Kubernetes {', '.join(versions())}")
    for r in rendered:
        problems = [str(p) for p in validate_all(r.objects)]
        problems += [v for check in policy.POLICIES.values() for v in check(r.objects)]
        failed = failed or bool(problems)
        print(f"  {'ok  ' if not problems else 'FAIL'} {r.name:<42} {len(r.objects):>3} objects")
        for problem in problems:
            print(f"       {problem}")
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

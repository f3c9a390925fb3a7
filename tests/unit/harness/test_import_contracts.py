"""The import contracts of pyproject.toml (`make check` runs them): kept by the tree, and broken
— so `make check` fails — when a module imports across a layer or into the services."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")
PACKAGES = ("harness", "reference_services", "load", "contracts", "scenarios")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the Python packages and of pyproject.toml, to break on purpose."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the editable install of this repository would otherwise be analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    done = _lint(tree)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("harness/errors.py", "import harness.cli", "only those below it"),
        ("harness/infra/nats.py", "import harness.campaign", "only those below it"),
        ("harness/faults/network.py", "import harness.checkers", "only those below it"),
        ("harness/stack/state.py", "import reference_services.gateway.app", "the schemas as data)"),
        ("load/shapes.py", "import reference_services.common.events", "never their code"),
    ],
    ids=["errors-imports-cli", "infra-imports-campaign", "faults-import-checkers",
         "harness-imports-a-service", "load-imports-a-service"],
)  # fmt: skip
def test_an_import_across_the_rules_breaks_a_contract(
    tree: Path, module: str, line: str, contract: str
) -> None:
    path = tree / module
    path.write_text(path.read_text() + f"\n{line}  # broken on purpose\n")
    done = _lint(tree)
    report = " ".join(done.stdout.split())  # contract names wrap over lines
    assert done.returncode == 1 and f"{contract} BROKEN" in report, (
        f"expected `{line}` in {module} to break the contract ending {contract!r}:\n"
        + done.stdout[-3000:]
    )

"""pytest plugin of the contract suite (loaded from the root conftest).

- `generated_pacts`: the directory where this run's consumer tests write their pacts (a temp dir;
  `--update-pacts` copies it over contracts/pacts/ when the run passes: `make pacts`).
- `verification_ledger`: which pact each provider test verified, for the can-i-deploy gate.
- The gates (contracts/test_contract_gates.py) run after every other test of the session, since
  they judge what those tests produced and verified.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Final

import pytest

from contracts.ledger import VerificationLedger
from contracts.pactfiles import PACTS_DIR, pact_files
from harness.settings import HarnessSettings

if TYPE_CHECKING:
    # Type only: every pytest session loads this plugin, and importing Pact loads its FFI library.
    from pact import Pact

GATES_MODULE: Final = "test_contract_gates.py"
_GENERATED: Final = pytest.StashKey[Path]()
_UPDATE_REPORT: Final = pytest.StashKey[str]()


class PactWriter:
    """Where consumer tests write pacts; interactions of one consumer-provider pair merge."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, pact: Pact) -> None:
        # Called at the end of a consumer test, after its assertions: a test that fails leaves
        # its interaction out, and the drift gate then reports the pact as changed.
        pact.write_file(self.directory)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-pacts",
        action="store_true",
        default=False,
        help="replace contracts/pacts/ with the pacts the consumer tests write (`make pacts`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # The Pact verifier reports anonymous usage to the Pact Foundation unless told not to; a test
    # run must not phone home (and here it could not).
    os.environ.setdefault("PACT_DO_NOT_TRACK", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A stable sort: everything keeps its order, the gates move to the end.
    items.sort(key=lambda item: item.path.name == GATES_MODULE)


@pytest.fixture(scope="session")
def generated_pacts(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> PactWriter:
    directory = tmp_path_factory.mktemp("pacts")
    pytestconfig.stash[_GENERATED] = directory
    return PactWriter(directory)


@pytest.fixture(scope="session")
def verification_ledger(harness_settings: HarnessSettings) -> VerificationLedger:
    return VerificationLedger(harness_settings.state_dir / "contracts" / "verification.json")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if not config.getoption("--update-pacts") or _GENERATED not in config.stash:
        return
    generated = pact_files(config.stash[_GENERATED])
    if exitstatus != 0 or not generated:
        config.stash[_UPDATE_REPORT] = (
            "contracts/pacts/ left as it was: the consumer tests did not all pass"
        )
        return
    for stale in pact_files(PACTS_DIR):
        stale.unlink()
    for pact in generated:
        shutil.copyfile(pact, PACTS_DIR / pact.name)
    config.stash[_UPDATE_REPORT] = (
        f"contracts/pacts/: wrote {len(generated)} pact files; review the diff and commit it"
    )


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    # Runs after pytest_sessionfinish, inside the terminal reporter's own summary.
    report = config.stash.get(_UPDATE_REPORT, None)
    if report is not None:
        terminalreporter.write_line(report)

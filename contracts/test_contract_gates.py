"""The gates: the committed pacts are what the consumers produce, and each was verified.

They run after every other test of the session (contracts/_fixtures.py orders them last), since
they judge what the consumer tests wrote and what the provider tests verified in this run.
"""

from __future__ import annotations

import pytest

from contracts._fixtures import PactWriter
from contracts.ledger import VerificationLedger
from contracts.pactfiles import PACTS_DIR, drift, pact_files

REGENERATE = (
    "Run `make pacts` to regenerate contracts/pacts/ from the consumer tests, review the diff"
    " (a provider must still honour it), and commit it."
)


def test_committed_pacts_are_what_the_consumers_produce(
    generated_pacts: PactWriter, pytestconfig: pytest.Config
) -> None:
    if pytestconfig.getoption("--update-pacts"):
        pytest.skip("contracts/pacts/ is being regenerated (--update-pacts)")
    assert pact_files(generated_pacts.directory), (
        "no consumer test wrote a pact in this run, so there is nothing to compare the committed"
        " pacts with: run the whole contract suite (`pytest contracts`)"
    )
    problems = drift(PACTS_DIR, generated_pacts.directory)
    assert not problems, (
        "the committed pacts are not what the consumer tests produce now:\n\n"
        + "\n\n".join(problems)
        + f"\n\n{REGENERATE}"
    )


def test_can_i_deploy(verification_ledger: VerificationLedger) -> None:
    committed = pact_files(PACTS_DIR)
    assert committed, f"contracts/pacts/ holds no pact. {REGENERATE}"
    reasons = verification_ledger.unverified(committed)
    assert not reasons, (
        "can-i-deploy: no. Every committed pact must be verified by its provider in the same run;"
        " these were not:\n  " + "\n  ".join(reasons)
    )

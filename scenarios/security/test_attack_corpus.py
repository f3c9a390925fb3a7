"""The attack corpus (harness.security.corpus) against the deployment's gateway: every case must
be refused with its documented status and a problem+json body — 0 accepted, 0 wrong answers.

The cases run once per session, in order (the floods last); the table of cases and outcomes is
printed at the end of the run and written to reports/security/attack-corpus.{txt,json}. On a
deployment without the signing key (HARNESS_JWT_SIGNING_KEY_FILE) or a second user
(HARNESS_OTHER_CREDENTIALS) the cases that need them skip and say so.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from harness.clients.gateway import GatewayClient
from harness.security import corpus
from harness.settings import HarnessSettings
from harness.stack.state import StackState

REPORT = Path("reports/security")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outcomes(
    stack: StackState, harness_settings: HarnessSettings, request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, corpus.Outcome]]:
    async with GatewayClient(stack.endpoints["gateway"], stack.credentials) as client:
        found = await corpus.run_corpus(
            client,
            signing_key_pem=corpus.find_signing_key(harness_settings, stack),
            settings=harness_settings,
        )
    REPORT.mkdir(parents=True, exist_ok=True)
    text = corpus.table(found)
    (REPORT / "attack-corpus.txt").write_text(text + "\n")
    (REPORT / "attack-corpus.json").write_text(
        json.dumps([o.to_json() for o in found], indent=2, ensure_ascii=False)
    )
    yield {o.case: o for o in found}
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("-", "attack corpus")
        reporter.write_line(text)


@pytest.mark.parametrize("name", [c.name for c in corpus.CASES])
async def test_the_attack_is_refused_as_documented(
    outcomes: dict[str, corpus.Outcome], name: str
) -> None:
    o = outcomes[name]
    if o.verdict == corpus.SKIPPED:
        pytest.skip(f"{name}: {o.got}")
    assert o.verdict == corpus.REFUSED, (
        f"{name} ({o.attack}): expected {o.expected} with a problem+json body, got {o.got}"
        f" — {o.verdict}"
    )


async def test_the_local_stack_runs_every_case(
    outcomes: dict[str, corpus.Outcome], stack: StackState
) -> None:
    # On our own stack nothing may be skipped: a skip there means the corpus lost its reach.
    if stack.target != "local":
        pytest.skip(f"the {stack.target} target may lack the signing key or a second user")
    skipped = {n: o.got for n, o in outcomes.items() if o.verdict == corpus.SKIPPED}
    assert not skipped, f"cases skipped on the local stack: {skipped}"

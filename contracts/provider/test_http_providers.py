"""Provider verification of the HTTP pacts against the running services.

The verifier replays each interaction of the committed pacts against the service's endpoint. The
archive's interactions assume provider states (a record exists, or does not): before each, the
verifier calls the archive's test-mode hook `POST /_test/provider-states`, which only a stack
started with HARNESS_TEST_MODE=1 has (`make test` starts it so).
"""

from __future__ import annotations

import httpx
import pytest

from contracts.ledger import VerificationLedger
from contracts.pactfiles import PACTS_DIR, pact_files
from contracts.pacticipants import ARCHIVE, SEGMENTATION
from contracts.verification import new_verifier, verify
from harness.stack.state import StackState

pytestmark = pytest.mark.stack

STATE_HOOK = "/_test/provider-states"


def _endpoint(stack: StackState, service: str, ledger: VerificationLedger) -> str:
    url = stack.endpoints.get(service)
    if url is None:
        detail = f"the deployment under test exposes no {service} endpoint"
        ledger.record(service, pact_files(PACTS_DIR, service), verified=False, detail=detail)
        pytest.skip(f"{detail}: set HARNESS_{service.upper()}_URL")
    return url.rstrip("/")


async def test_archive_honours_its_consumers_pacts(
    stack: StackState, verification_ledger: VerificationLedger
) -> None:
    pacts = pact_files(PACTS_DIR, ARCHIVE)
    url = _endpoint(stack, ARCHIVE, verification_ledger)
    async with httpx.AsyncClient(timeout=5) as http:
        hook = await http.get(f"{url}{STATE_HOOK}")
    if hook.status_code == 404:
        detail = (
            f"the archive at {url} is not in test mode (no {STATE_HOOK}), so provider states"
            " cannot be set up: start the stack with HARNESS_TEST_MODE=1 (`make test` does)"
        )
        verification_ledger.record(ARCHIVE, pacts, verified=False, detail=detail)
        pytest.skip(detail)
    verifier = new_verifier(ARCHIVE, pacts, base_url=url).state_handler(
        f"{url}{STATE_HOOK}", body=True
    )
    await verify(verifier, ARCHIVE, pacts, verification_ledger)


async def test_segmentation_honours_its_consumers_pacts(
    stack: StackState, verification_ledger: VerificationLedger
) -> None:
    pacts = pact_files(PACTS_DIR, SEGMENTATION)
    url = _endpoint(stack, SEGMENTATION, verification_ledger)
    await verify(
        new_verifier(SEGMENTATION, pacts, base_url=url), SEGMENTATION, pacts, verification_ledger
    )

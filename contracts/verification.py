"""Running Pact's provider verifier from async tests, and recording what it concluded.

The verifier is a blocking call into the Pact library, so it runs in a worker thread while the
test's event loop stays free (message producers hand their work back to that loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pact import Verifier

from contracts.ledger import VerificationLedger
from contracts.pactfiles import load

__all__ = ["new_verifier", "verify"]


def new_verifier(provider: str, pacts: Sequence[Path], *, base_url: str | None = None) -> Verifier:
    """A verifier of `pacts` for `provider`, pointed at `base_url` when it serves HTTP."""
    host = urlsplit(base_url).hostname if base_url else None
    verifier = Verifier(provider, host=host).set_coloured_output(enabled=False)
    if base_url is not None:
        verifier.add_transport(url=base_url)
    for pact in pacts:
        verifier.add_source(pact)
    return verifier


def _close_relays(verifier: Verifier) -> None:
    # pact-python 4.2 shuts its in-process message relay and state-callback servers down but never
    # closes their listening sockets; left to the garbage collector they raise ResourceWarning,
    # which this suite turns into errors. Closing them here is all it takes.
    for name in ("_message_producer", "_state_handler"):
        server = getattr(getattr(verifier, name, None), "_server", None)
        close: Callable[[], None] | None = getattr(server, "server_close", None)
        if close is not None:
            close()


def _outcomes(verifier: Verifier, pacts: Sequence[Path]) -> dict[Path, str | None]:
    """Per pact file: None when every one of its interactions passed, else what went wrong."""
    try:
        results = verifier.results.get("interactionResults") or []
    except RuntimeError:  # no results at all: the verifier could not run
        results = []
    outcomes: dict[Path, str | None] = {}
    for pact in pacts:
        contract = load(pact)
        consumer = contract["consumer"]["name"]
        replayed = [r for r in results if r.get("consumer") == consumer]
        failed = sorted(str(r.get("description")) for r in replayed if r.get("result") != "OK")
        if len(replayed) < len(contract.get("interactions", [])):
            outcomes[pact] = "not every interaction was replayed"
        elif failed:
            outcomes[pact] = "failed: " + "; ".join(failed)
        else:
            outcomes[pact] = None
    return outcomes


async def verify(
    verifier: Verifier, provider: str, pacts: Sequence[Path], ledger: VerificationLedger
) -> None:
    """Verify; record each pact's outcome for can-i-deploy; fail the test with the report."""
    if not pacts:
        pytest.fail(f"no committed pact names {provider!r} as its provider")
    try:
        await asyncio.to_thread(verifier.verify)
    except RuntimeError:
        pass  # the Pact library's way of saying "some interaction failed": judged below
    finally:
        _close_relays(verifier)
    outcomes = _outcomes(verifier, pacts)
    for pact, problem in outcomes.items():
        ledger.record(provider, [pact], verified=problem is None, detail=problem or "")
    broken = [pact.name for pact, problem in outcomes.items() if problem is not None]
    if broken:
        report = verifier.output(strip_ansi=True)
        pytest.fail(f"{provider} does not honour {', '.join(broken)}:\n{report}", pytrace=False)

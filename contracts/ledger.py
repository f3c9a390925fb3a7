"""The verification ledger: which pact was verified by its provider in this run (can-i-deploy).

Provider tests record every pact they verified, failed or could not verify (and why); the
can-i-deploy gate then asks whether every committed pact was verified. The ledger is also written
to a JSON file under the harness state dir, for a human or CI to read after the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Verification", "VerificationLedger"]


@dataclass(frozen=True)
class Verification:
    pact: str
    provider: str
    verified: bool
    detail: str
    at: str


class VerificationLedger:
    def __init__(self, results_file: Path | None = None) -> None:
        self.results_file = results_file
        self._entries: dict[str, Verification] = {}

    def record(
        self, provider: str, pacts: Iterable[Path], *, verified: bool, detail: str = ""
    ) -> None:
        at = datetime.now(UTC).isoformat(timespec="seconds")
        for pact in pacts:
            self._entries[pact.name] = Verification(pact.name, provider, verified, detail, at)
        self._save()

    def unverified(self, pacts: Iterable[Path]) -> list[str]:
        """Why each of `pacts` cannot be deployed; empty when every one was verified."""
        reasons = []
        for pact in pacts:
            entry = self._entries.get(pact.name)
            if entry is None:
                reasons.append(f"{pact.name}: its provider's verification did not run")
            elif not entry.verified:
                reasons.append(f"{pact.name}: not verified by {entry.provider}: {entry.detail}")
        return reasons

    def _save(self) -> None:
        if self.results_file is None:
            return
        self.results_file.parent.mkdir(parents=True, exist_ok=True)
        entries = [asdict(e) for e in sorted(self._entries.values(), key=lambda e: e.pact)]
        self.results_file.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")

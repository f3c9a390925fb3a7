"""Forwarding to the archive's HTTP API: timeouts, a circuit breaker, and retries for reads.

The gateway never hangs on the archive: every request has a timeout, and once the archive has
failed `failure_threshold` times in a row the breaker answers at once (503 with Retry-After)
instead of letting every client wait out a timeout. Only 5xx answers, timeouts and connection
errors count as failures: a 4xx means the archive is up and judged the request.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from reference_services.common import metrics
from reference_services.common.errors import NotFound
from reference_services.common.resilience import STATE_VALUES, CircuitBreaker, RetryPolicy
from reference_services.gateway.service_client import Rejected, ServiceClient, Unavailable

# Only these are retried: a timed-out PATCH may have been applied, and repeating it is not ours
# to decide for the client.
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD"})


class ArchiveUnavailable(Unavailable):
    """The archive timed out, refused or failed; the client should retry later."""


class ArchiveRejected(Rejected):
    """The archive answered 4xx; passed through to the client as it came."""


class ArchiveClient(ServiceClient):
    service = "archive"
    unavailable = ArchiveUnavailable
    rejected = ArchiveRejected

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        *,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, timeout_s, transport=transport)
        self.breaker = breaker or CircuitBreaker(5, 5.0, name="archive")
        self.retry = retry or RetryPolicy(base_s=0.05, max_s=0.25, max_attempts=2)
        breaker_ = self.breaker
        metrics.CIRCUIT_STATE.labels(breaker_.name).set_function(
            lambda: STATE_VALUES[breaker_.state]
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one request through the breaker; reads are retried on ArchiveUnavailable.

        Raises CircuitOpen (a TransientError) without sending when the breaker is open,
        ArchiveUnavailable, NotFound for 404 and ArchiveRejected for other 4xx answers.
        """

        def _not_found() -> Exception:
            return NotFound("atlas record", path.rsplit("/", 1)[-1])

        async def send() -> dict[str, Any]:
            result: dict[str, Any] = await self._json(
                method, path, params=params, json=json, correlation_id=correlation_id,
                on_404=_not_found,
            )  # fmt: skip
            return result

        async def through_breaker() -> dict[str, Any]:
            return await self.breaker.call(send, failure_on=(ArchiveUnavailable,))

        if method.upper() in _IDEMPOTENT_METHODS:
            # CircuitOpen is not retried: the breaker's wait is far longer than any back-off.
            return await self.retry.call(through_breaker, retry_on=(ArchiveUnavailable,))
        return await through_breaker()

    async def ready(self) -> bool:
        try:
            resp = await self._client.get("/livez", timeout=2)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

"""HTTP caching of the gateway's reads: a strong `ETag` on every successful GET of a cached
route, `If-None-Match` answered `304 Not Modified`, and a `Cache-Control` per route.

The ETag is a digest of the response body itself, so it changes exactly when the answer does —
on every replica, with no shared state and nothing to invalidate: a command whose status moved,
an archive record whose status was changed, a search with a new hit all have a new body, hence a
new tag, and a client revalidating (`no-cache`) never gets a stale answer. The handler still runs
(authentication, the user's own data): a 304 saves the transfer, not the check. Answers are
`private`: they are one user's, and no shared cache may keep them.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Route prefix → Cache-Control. Statuses change until `final`; archive records can be changed
# by an admin; searches gain hits: every answer is revalidated before use.
RULES: tuple[tuple[str, str], ...] = (
    ("/api/v1/commands/", "private, no-cache"),
    ("/api/v1/archive/", "private, no-cache"),
)
MAX_BODY = 1 << 20  # larger answers pass through untagged


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, tag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    return any(t.strip().removeprefix("W/") == tag for t in if_none_match.split(","))


class ETagMiddleware:
    def __init__(self, app: ASGIApp, rules: tuple[tuple[str, str], ...] = RULES) -> None:
        self.app = app
        self.rules = rules

    def _rule(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        return next((cc for prefix, cc in self.rules if path.startswith(prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache_control = self._rule(scope)
        if cache_control is None:
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        passing = False

        async def _send(message: Message) -> None:
            nonlocal start, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    passing = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                if sum(map(len, chunks)) > MAX_BODY:
                    passing = True
                    await send(start)
                    await send({"type": "http.response.body", "body": b"".join(chunks),
                                "more_body": True})  # fmt: skip
                return
            body = b"".join(chunks)
            tag = etag_of(body)
            headers = MutableHeaders(scope=start)
            headers["ETag"] = tag
            headers["Cache-Control"] = cache_control
            if if_none_match is not None and _matches(if_none_match, tag):
                del headers["content-length"]
                if "content-type" in headers:
                    del headers["content-type"]
                await send({**start, "status": 304})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, _send)

"""The attack corpus: requests that must not get through the gateway, and what each must get.

Each case is one way in: a forged or misused token, another user's command, a smuggled header, a
flood. It runs against any deployment's gateway through its public API, and its outcome is
*refused* (the documented status, with a problem+json body), *ACCEPTED* (the attack worked),
*wrong answer* (refused, but not as documented: a 500, a bare text body), or *skipped* (the target
lacks what the case needs, and the outcome says what). The documented statuses are in
docs/security.md.

What the corpus needs from the target: the `user` credentials (the victim), for the cases on
other users' data a second ordinary user (`other`: HARNESS_OTHER_CREDENTIALS), for the forged
claims the token-signing key (HARNESS_JWT_SIGNING_KEY_FILE: a local stack's is found by itself).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.clients.gateway import API, GatewayClient
from harness.errors import HarnessError
from harness.security import forge
from harness.settings import HarnessSettings
from harness.stack.state import StackState

REFUSED, ACCEPTED, WRONG, SKIPPED = "refused", "ACCEPTED", "wrong answer", "skipped"


@dataclass(frozen=True)
class Outcome:
    case: str
    attack: str
    expected: str
    got: str
    verdict: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


class Skip(Exception):
    """The target lacks what the case needs; the message says what."""


def _is_problem(resp: httpx.Response) -> bool:
    if not resp.headers.get("content-type", "").startswith("application/problem+json"):
        return False
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == resp.status_code


def _describe(resp: httpx.Response) -> str:
    kind = "problem+json" if _is_problem(resp) else resp.headers.get("content-type", "no body")
    return f"{resp.status_code} {kind.split(';')[0]}"


def judge(resp: httpx.Response, expected: tuple[int, ...]) -> tuple[str, str]:
    """The verdict on one answer to an attack and how to show it."""
    got = _describe(resp)
    if 200 <= resp.status_code < 300:
        return ACCEPTED, got
    if resp.status_code in expected and _is_problem(resp):
        return REFUSED, got
    return WRONG, got


@dataclass
class Context:
    """What the cases share: the client, the victim's tokens and command, the keys."""

    client: GatewayClient
    victim: Mapping[str, str]
    other: Mapping[str, str] | None
    signing_key_pem: str | None
    tokens: dict[str, str] = field(default_factory=dict)
    command_id: str = ""
    jwks: list[dict[str, Any]] = field(default_factory=list)
    # The deployment's per-user bucket and the burst sent at it (HARNESS_RATE_LIMIT_*).
    rate_limit_capacity: float = 200.0
    rate_limit_refill: float = 100.0
    rate_limit_burst: int = 1000
    rate_limit_connections: int = 100
    # Whether a token signed with `signing_key_pem`, claims untouched, is accepted (None: not
    # tried yet).
    signing_key_checked: bool | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        return self.client.http

    @property
    def target(self) -> str:
        return f"{API}/commands/{self.command_id}"

    async def login(self, cred: Mapping[str, str]) -> dict[str, str]:
        resp = await self.client.login(cred["username"], cred["password"])
        if resp.status_code != 200:
            raise HarnessError(f"login as {cred['username']} failed: {_describe(resp)}")
        body: dict[str, str] = resp.json()
        return body

    async def with_token(self, token: str, path: str | None = None) -> httpx.Response:
        return await self.http.get(
            path or self.target, headers={"Authorization": f"Bearer {token}"}
        )

    def claims(self) -> dict[str, Any]:
        return forge.parts(self.tokens["access_token"])[1]

    def kid(self) -> str:
        return str(forge.parts(self.tokens["access_token"])[0].get("kid", ""))

    def their_key(self) -> Any:
        if not self.signing_key_pem:
            raise Skip("needs the token-signing key: set HARNESS_JWT_SIGNING_KEY_FILE")
        return forge.load_key(self.signing_key_pem)

    def other_user(self) -> Mapping[str, str]:
        if self.other is None:
            raise Skip("needs a second ordinary user: set HARNESS_OTHER_CREDENTIALS=USER:PASSWORD")
        return self.other


# A case: name, what it tries, the documented refusal, and the attack (which returns the answer
# to judge, or a ready verdict and its description for the cases that are not one request).
Answer = httpx.Response | tuple[str, str]
Attack = Callable[[Context], Awaitable[Answer]]


@dataclass(frozen=True)
class Case:
    name: str
    attack: str
    expected: tuple[int, ...]
    run: Attack


CASES: list[Case] = []


def case(name: str, attack: str, *expected: int) -> Callable[[Attack], Attack]:
    def register(fn: Attack) -> Attack:
        CASES.append(Case(name, attack, expected, fn))
        return fn

    return register


# --- forged access tokens, each sent to read the victim's own command --------------------------


@case("alg-none", "alg none, no signature, the victim's claims", 401)
async def _alg_none(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.unsigned(ctx.claims()))


@case("alg-none-mixed-case", "alg nOnE (a case-sensitive blocklist misses it)", 401)
async def _alg_none_case(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.unsigned(ctx.claims(), alg="nOnE"))


@case("hs256-key-confusion", "HS256 signed with the public key (PEM) as the HMAC secret", 401)
async def _key_confusion(ctx: Context) -> Answer:
    if not ctx.jwks:
        raise Skip("the target publishes no JWKS at /.well-known/jwks.json")
    worst: tuple[str, str] = (SKIPPED, "the JWKS holds no RSA key")
    for jwk in ctx.jwks:
        for pem in forge.jwk_public_pems(jwk):
            for secret in (pem, pem.strip()):
                token = forge.hmac_signed(ctx.claims(), secret, kid=jwk.get("kid", ctx.kid()))
                verdict = judge(await ctx.with_token(token), (401,))
                if verdict[0] != REFUSED:
                    return verdict
                worst = verdict
    return worst


@case("signature-stripped", "the victim's token with its signature removed", 401)
async def _stripped(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.without_signature(ctx.tokens["access_token"]))


@case("tampered-subject", "the victim's token, sub changed to the admin, old signature", 401)
async def _tampered_sub(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.with_claims(ctx.tokens["access_token"], sub="demo-admin"))


@case("role-escalation", "the victim's token, roles changed to admin, old signature", 401)
async def _escalation(ctx: Context) -> httpx.Response:
    token = forge.with_claims(ctx.tokens["access_token"], roles=["admin"], scope="admin")
    return await ctx.with_token(token)


@case("foreign-key-same-kid", "signed by another RSA key under the target's kid", 401)
async def _foreign_key(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.rs256(ctx.claims(), forge.new_key(), kid=ctx.kid()))


@case("foreign-key-unknown-kid", "signed by another RSA key under an unknown kid", 401)
async def _foreign_kid(ctx: Context) -> httpx.Response:
    return await ctx.with_token(forge.rs256(ctx.claims(), forge.new_key(), kid="attacker-1"))


@case("kid-path-traversal", "kid ../../../../dev/null, HS256 with an empty secret", 401)
async def _kid_traversal(ctx: Context) -> httpx.Response:
    token = forge.hmac_signed(ctx.claims(), b"", kid="../../../../../../../dev/null")
    return await ctx.with_token(token)


@case("kid-injection", "kid x' UNION SELECT 'k' --, HS256 with secret k", 401)
async def _kid_injection(ctx: Context) -> httpx.Response:
    token = forge.hmac_signed(ctx.claims(), b"k", kid="x' UNION SELECT 'k' --")
    return await ctx.with_token(token)


async def _key_bearing(ctx: Context, header: str) -> httpx.Response:
    key = forge.new_key()
    value: Any = (
        forge.public_jwk(key, "attacker-1")
        if header == "jwk"
        else "http://127.0.0.1:9/.well-known/jwks.json"
    )
    return await ctx.with_token(forge.rs256(ctx.claims(), key, kid="attacker-1", **{header: value}))


@case("jku-header", "signed by the attacker, jku naming the attacker's JWKS", 401)
async def _jku(ctx: Context) -> httpx.Response:
    return await _key_bearing(ctx, "jku")


@case("x5u-header", "signed by the attacker, x5u naming the attacker's certificate", 401)
async def _x5u(ctx: Context) -> httpx.Response:
    return await _key_bearing(ctx, "x5u")


@case("embedded-jwk", "signed by the attacker, the attacker's public key in the jwk header", 401)
async def _jwk(ctx: Context) -> httpx.Response:
    return await _key_bearing(ctx, "jwk")


@case("oversized-token", "a 12 kB token (a 431 from a proxy in front counts too)", 401, 431)
async def _oversized(ctx: Context) -> httpx.Response:
    claims = {**ctx.claims(), "pad": "A" * 12_000}
    return await ctx.with_token(forge.rs256(claims, forge.new_key(), kid=ctx.kid()))


@case("garbage-token", "a Bearer value that is not a JWT", 401)
async def _garbage(ctx: Context) -> httpx.Response:
    return await ctx.with_token("not.a.jwt")


# --- correctly signed, wrong claims: only with the signing key --------------------------------


def _sign(ctx: Context, **changes: Any) -> str:
    claims = {**ctx.claims(), "jti": str(uuid.uuid4()), **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return forge.rs256(claims, ctx.their_key(), kid=ctx.kid())


async def _signed_control(ctx: Context) -> None:
    """A token signed with the key at hand and no change must be accepted, or the key is not
    the one that signs this deployment's tokens (the cases would pass for the wrong reason)."""
    if ctx.signing_key_checked is None:
        answer = await ctx.with_token(_sign(ctx))
        ctx.signing_key_checked = answer.status_code == 200
    if not ctx.signing_key_checked:
        raise Skip("the signing key at hand does not sign this deployment's tokens")


async def _signed(ctx: Context, **changes: Any) -> str:
    await _signed_control(ctx)
    return _sign(ctx, **changes)


@case("expired", "signed by the target's key, expired an hour ago", 401)
async def _expired(ctx: Context) -> httpx.Response:
    now = int(time.time())
    return await ctx.with_token(await _signed(ctx, iat=now - 7200, nbf=now - 7200, exp=now - 3600))


@case("not-yet-valid", "signed by the target's key, nbf an hour ahead", 401)
async def _nbf(ctx: Context) -> httpx.Response:
    now = int(time.time())
    return await ctx.with_token(await _signed(ctx, nbf=now + 3600, exp=now + 7200))


@case("issued-in-the-future", "signed by the target's key, iat an hour ahead", 401)
async def _iat(ctx: Context) -> httpx.Response:
    now = int(time.time())
    return await ctx.with_token(await _signed(ctx, iat=now + 3600, exp=now + 7200))


@case("wrong-audience", "signed by the target's key for another audience", 401)
async def _aud(ctx: Context) -> httpx.Response:
    return await ctx.with_token(await _signed(ctx, aud="some-other-api"))


@case("wrong-issuer", "signed by the target's key, another issuer", 401)
async def _iss(ctx: Context) -> httpx.Response:
    return await ctx.with_token(await _signed(ctx, iss="https://evil.example"))


@case("no-expiry", "signed by the target's key, without exp", 401)
async def _no_exp(ctx: Context) -> httpx.Response:
    return await ctx.with_token(await _signed(ctx, exp=None))


@case("unknown-kid-their-key", "signed by the target's own key under an unknown kid", 401)
async def _unknown_kid_real(ctx: Context) -> httpx.Response:
    await _signed_control(ctx)
    claims = {**ctx.claims(), "jti": str(uuid.uuid4())}
    return await ctx.with_token(forge.rs256(claims, ctx.their_key(), kid="no-such-key"))


# --- refresh tokens and sessions ---------------------------------------------------------------


@case("refresh-as-access", "the victim's refresh token as a Bearer access token", 401)
async def _refresh_as_access(ctx: Context) -> httpx.Response:
    return await ctx.with_token(ctx.tokens["refresh_token"])


@case("access-as-refresh", "the victim's access token sent to /auth/refresh", 401)
async def _access_as_refresh(ctx: Context) -> httpx.Response:
    return await ctx.http.post(
        f"{API}/auth/refresh", json={"refresh_token": ctx.tokens["access_token"]}
    )


async def _refresh(ctx: Context, token: str) -> httpx.Response:
    return await ctx.http.post(f"{API}/auth/refresh", json={"refresh_token": token})


@case("refresh-replayed", "a refresh token used again after it was rotated", 401)
async def _replayed(ctx: Context) -> Answer:
    first = await ctx.login(ctx.victim)
    rotated = await _refresh(ctx, first["refresh_token"])
    if rotated.status_code != 200:
        return WRONG, f"the first refresh failed: {_describe(rotated)}"
    replay = await _refresh(ctx, first["refresh_token"])
    verdict, got = judge(replay, (401,))
    if verdict != REFUSED:
        return verdict, got
    # The replay says the token was copied: the session it belongs to must be over too.
    successor = await _refresh(ctx, rotated.json()["refresh_token"])
    verdict, then = judge(successor, (401,))
    return verdict, f"{got}; its successor then {then}"


@case("refresh-after-logout", "a refresh token used after logging out with it", 401)
async def _after_logout(ctx: Context) -> Answer:
    tokens = await ctx.login(ctx.victim)
    out = await ctx.http.post(f"{API}/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    if out.status_code == 404:
        raise Skip(f"the target has no {API}/auth/logout")
    if out.status_code != 204:
        return WRONG, f"logout answered {_describe(out)}"
    return await _refresh(ctx, tokens["refresh_token"])


# --- other users' data -----------------------------------------------------------------------


async def _as_other(ctx: Context) -> str:
    return (await ctx.login(ctx.other_user()))["access_token"]


@case("idor-command", "a second user reads the victim's command", 404)
async def _idor_command(ctx: Context) -> httpx.Response:
    return await ctx.with_token(await _as_other(ctx))


@case("idor-documents", "a second user reads the victim's ALT, LAST and ATLAS", 404)
async def _idor_documents(ctx: Context) -> Answer:
    token = await _as_other(ctx)
    answers = [
        await ctx.with_token(token, f"{ctx.target}/{kind}") for kind in ("alt", "last", "atlas")
    ]
    verdicts = [judge(a, (404,)) for a in answers]
    bad = [v for v in verdicts if v[0] != REFUSED]
    return bad[0] if bad else (REFUSED, ", ".join(v[1] for v in verdicts))


@case("idor-idempotency-key", "a second user replays the victim's Idempotency-Key", 202)
async def _idor_key(ctx: Context) -> tuple[str, str]:
    token = await _as_other(ctx)
    resp = await ctx.http.post(
        f"{API}/commands",
        json={"command": _VICTIM_COMMAND},
        headers={
            "Authorization": f"Bearer {token}",
            "Idempotency-Key": ctx.tokens["idempotency_key"],
        },
    )
    if resp.status_code != 202:
        return WRONG, f"{_describe(resp)} (a new command of its own was expected)"
    if resp.json().get("id") == ctx.command_id or resp.headers.get("idempotent-replayed"):
        return ACCEPTED, "202 with the victim's command"
    return REFUSED, "202 with a new command of its own"


@case("viewer-submits", "a viewer submits a command", 403)
async def _viewer_submits(ctx: Context) -> httpx.Response:
    return await ctx.client.submit("yetki yükseltme denemesi", role="viewer")


@case("user-changes-archive-status", "an ordinary user changes an ATLAS record's status", 403)
async def _user_patches(ctx: Context) -> httpx.Response:
    return await ctx.client.request(
        "PATCH", f"{API}/archive/{uuid.uuid4()}", role="user", json={"status": "archived"}
    )


# --- API keys --------------------------------------------------------------------------------


async def _new_key(ctx: Context, token: str | None = None, **body: Any) -> dict[str, Any]:
    resp = await ctx.http.post(
        f"{API}/api-keys",
        json={"name": "attack corpus", **body},
        headers={"Authorization": f"Bearer {token or ctx.tokens['access_token']}"},
    )
    if resp.status_code == 404:
        raise Skip(f"the target has no {API}/api-keys")
    if resp.status_code != 201:
        raise Skip(f"could not create an API key: {_describe(resp)}")
    created: dict[str, Any] = resp.json()
    return created


async def _with_key(ctx: Context, key: str, path: str | None = None) -> httpx.Response:
    return await ctx.http.get(path or ctx.target, headers={"X-API-Key": key})


async def _works(ctx: Context, key: str, path: str | None = None) -> None:
    """The control for a key case: the untouched key is accepted where it may go."""
    answer = await _with_key(ctx, key, path)
    if answer.status_code != 200:
        raise Skip(f"a fresh API key does not work ({_describe(answer)}): nothing to attack")


@case("revoked-api-key", "an API key used after its owner revoked it", 401)
async def _revoked_key(ctx: Context) -> Answer:
    created = await _new_key(ctx)
    if (await _with_key(ctx, created["key"])).status_code != 200:
        return WRONG, "the fresh key did not work before its revocation"
    gone = await ctx.http.delete(
        f"{API}/api-keys/{created['id']}",
        headers={"Authorization": f"Bearer {ctx.tokens['access_token']}"},
    )
    if gone.status_code != 204:
        return WRONG, f"revocation answered {_describe(gone)}"
    return await _with_key(ctx, created["key"])


@case("tampered-api-key", "a real API key with one character of its secret changed", 401)
async def _tampered_key(ctx: Context) -> Answer:
    key = (await _new_key(ctx))["key"]
    await _works(ctx, key)
    flipped = key[:-1] + ("A" if key[-1] != "A" else "B")
    return await ctx.http.get(ctx.target, headers={"Authorization": f"ApiKey {flipped}"})


@case("api-key-off-its-routes", "a key limited to the archive used on a command", 403)
async def _key_routes(ctx: Context) -> Answer:
    key = (await _new_key(ctx, routes=[f"{API}/archive"]))["key"]
    await _works(ctx, key, f"{API}/archive/search")
    return await _with_key(ctx, key)


@case("api-key-role-escalation", "a user creates a key with the admin role", 403)
async def _key_escalation(ctx: Context) -> Answer:
    resp = await ctx.http.post(
        f"{API}/api-keys",
        json={"name": "escalation", "roles": ["admin"]},
        headers={"Authorization": f"Bearer {ctx.tokens['access_token']}"},
    )
    if resp.status_code == 404:
        raise Skip(f"the target has no {API}/api-keys")
    return resp


@case("api-key-mints-api-keys", "an API key used to create another API key", 403)
async def _key_mints(ctx: Context) -> Answer:
    key = (await _new_key(ctx))["key"]
    await _works(ctx, key)
    return await ctx.http.post(
        f"{API}/api-keys", json={"name": "minted"}, headers={"X-API-Key": key}
    )


@case("idor-api-key", "a second user revokes the victim's API key", 404)
async def _idor_key_revoke(ctx: Context) -> Answer:
    created = await _new_key(ctx)
    token = await _as_other(ctx)
    resp = await ctx.http.delete(
        f"{API}/api-keys/{created['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    still = await _with_key(ctx, created["key"])
    if still.status_code != 200:
        return ACCEPTED, f"{_describe(resp)}, and the victim's key stopped working"
    return resp


# --- smuggled headers and floods ---------------------------------------------------------------


@case(
    "duplicate-authorization", "two Authorization headers: another user's, then the victim's", 400
)
async def _duplicate_auth(ctx: Context) -> httpx.Response:
    other = await _as_other(ctx) if ctx.other is not None else forge.unsigned(ctx.claims())
    return await ctx.http.get(
        ctx.target,
        headers=[
            ("Authorization", f"Bearer {other}"),
            ("Authorization", f"Bearer {ctx.tokens['access_token']}"),
        ],
    )


@case("duplicate-x-api-key", "two X-API-Key headers: a made-up key, then a real one", 400)
async def _duplicate_key(ctx: Context) -> Answer:
    key = (await _new_key(ctx))["key"]
    await _works(ctx, key)
    fake = f"altlas_{'0' * 12}_{'A' * 43}"
    return await ctx.http.get(ctx.target, headers=[("X-API-Key", fake), ("X-API-Key", key)])


@case("xff-rate-limit-evasion", "a burst past the user's bucket, a new X-Forwarded-For each", 429)
async def _xff_burst(ctx: Context) -> Answer:
    token = await _as_other(ctx) if ctx.other is not None else ctx.tokens["access_token"]
    limits = httpx.Limits(max_connections=ctx.rate_limit_connections)
    async with httpx.AsyncClient(base_url=ctx.client.base_url, limits=limits, timeout=60) as http:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(
                http.get(
                    f"{API}/commands/not-a-uuid",  # authenticated and charged, then a cheap 422
                    headers={
                        "Authorization": f"Bearer {token}",
                        "X-Forwarded-For": f"203.0.113.{i % 250}, 10.0.{i // 250}.1",
                        "X-Real-IP": f"198.51.100.{i % 250}",
                        "Forwarded": f"for=192.0.2.{i % 250}",
                    },
                )
                for i in range(ctx.rate_limit_burst)
            )
        )
        elapsed = time.monotonic() - started
    codes = [a.status_code for a in answers]
    admitted = sum(c < 429 for c in codes)
    bound = ctx.rate_limit_capacity + ctx.rate_limit_refill * elapsed
    summary = f"{admitted} of {len(codes)} admitted in {elapsed:.1f} s (bucket allows {bound:.0f})"
    if admitted > bound * 1.1:
        return ACCEPTED, summary
    limited = [a for a in answers if a.status_code == 429]
    if not limited:
        return WRONG, f"{summary}: the burst never outran the bucket, so it proves nothing"
    if not all(_is_problem(a) and a.headers.get("retry-after") for a in limited):
        return WRONG, f"{summary}; not every 429 is problem+json with Retry-After"
    return REFUSED, summary


@case("brute-force-login", "wrong passwords for one name, a new X-Forwarded-For each", 429)
async def _brute_force(ctx: Context) -> tuple[str, str]:
    # A fresh name: throttling one of the stack's users would lock it out of later tests. A
    # name nobody has must be throttled all the same (or the throttle tells names apart).
    name = f"brute-force-{secrets.token_hex(4)}"
    codes: list[int] = []
    bad: list[httpx.Response] = []
    for i in range(40):
        resp = await ctx.http.post(
            f"{API}/auth/login",
            json={"username": name, "password": f"guess-{i}"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        codes.append(resp.status_code)
        if resp.status_code == 200:
            return ACCEPTED, f"guess {i + 1} logged in"
        if resp.status_code not in (401, 429) or not _is_problem(resp):
            bad.append(resp)
        if resp.status_code == 429:
            break
    if bad:
        return WRONG, f"{_describe(bad[0])} among the answers"
    if 429 not in codes:
        return ACCEPTED, f"{len(codes)} wrong passwords, none throttled"
    return REFUSED, f"429 after {codes.index(429)} failures"


@case(
    "brute-force-login-parallel",
    "wrong passwords for one name sent all at once: no more checked than the serial limit",
    429,
)
async def _brute_force_parallel(ctx: Context) -> tuple[str, str]:
    # First the serial limit of a fresh name, then four times that many guesses at once for
    # another: a throttle that counts failures only after checking them lets them all through.
    serial = 0
    name = f"brute-force-{secrets.token_hex(4)}"
    for i in range(40):
        resp = await ctx.http.post(
            f"{API}/auth/login", json={"username": name, "password": f"guess-{i}"}
        )
        if resp.status_code == 429:
            break
        serial += 1
    else:
        return ACCEPTED, "40 serial wrong passwords, none throttled"
    name = f"brute-force-{secrets.token_hex(4)}"
    answers = await asyncio.gather(
        *(
            ctx.http.post(f"{API}/auth/login", json={"username": name, "password": f"guess-{i}"})
            for i in range(4 * serial + 4)
        )
    )
    codes = [r.status_code for r in answers]
    if 200 in codes:
        return ACCEPTED, "a guess logged in"
    bad = [r for r in answers if r.status_code not in (401, 429) or not _is_problem(r)]
    if bad:
        return WRONG, f"{_describe(bad[0])} among the answers"
    checked = codes.count(401)
    # One more than the serial limit: a failure may refill while the guesses are in flight.
    if checked > serial + 1:
        return (
            ACCEPTED,
            f"{checked} of {len(codes)} parallel guesses checked (serial limit {serial})",
        )
    return (
        REFUSED,
        f"{checked} of {len(codes)} parallel guesses checked, the rest 429 (serial {serial})",
    )


_VICTIM_COMMAND = "saldırı derlemi için kurban komutu: dosyaları listele"


async def prepare(ctx: Context) -> None:
    """The victim's tokens and one archived command of theirs, and the target's public keys."""
    ctx.tokens = dict(await ctx.login(ctx.victim))
    key = f"attack-corpus-{uuid.uuid4()}"
    ctx.tokens["idempotency_key"] = key
    ctx.command_id = await ctx.client.submit_ok(_VICTIM_COMMAND, idempotency_key=key)
    await ctx.client.wait_until_final(ctx.command_id)
    # The control: the victim's own token reads the target. Without it, every 401 below would
    # prove nothing.
    control = await ctx.with_token(ctx.tokens["access_token"])
    if control.status_code != 200:
        raise HarnessError(
            f"the victim's own token cannot read {ctx.target} ({_describe(control)}):"
            " the corpus would measure nothing"
        )
    resp = await ctx.http.get("/.well-known/jwks.json")
    if resp.status_code == 200:
        ctx.jwks = list(resp.json().get("keys", []))


async def run_case(ctx: Context, c: Case) -> Outcome:
    expected = " or ".join(str(s) for s in c.expected)
    try:
        answer = await c.run(ctx)
    except Skip as exc:
        return Outcome(c.name, c.attack, expected, str(exc), SKIPPED)
    verdict, got = answer if isinstance(answer, tuple) else judge(answer, c.expected)
    return Outcome(c.name, c.attack, expected, got, verdict)


async def run_corpus(
    client: GatewayClient,
    *,
    signing_key_pem: str | None = None,
    settings: HarnessSettings | None = None,
    only: set[str] | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Every case against the gateway behind `client`, in order (the floods last)."""
    creds = client.credentials
    if "user" not in creds:
        raise HarnessError(
            "the attack corpus needs the `user` credentials (HARNESS_USER_CREDENTIALS)"
        )
    ctx = Context(
        client,
        creds["user"],
        creds.get("other"),
        signing_key_pem,
    )
    if settings is not None:
        ctx.rate_limit_capacity = settings.rate_limit_capacity
        ctx.rate_limit_refill = settings.rate_limit_refill
        ctx.rate_limit_burst = settings.rate_limit_burst
        ctx.rate_limit_connections = settings.rate_limit_connections
    await prepare(ctx)
    outcomes = []
    for c in CASES:
        if only is not None and c.name not in only:
            continue
        outcome = await run_case(ctx, c)
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """The outcomes as an aligned text table, and a last line counting the verdicts."""
    rows = [("case", "expected", "got", "verdict")] + [
        (o.case, o.expected, o.got, o.verdict) for o in outcomes
    ]
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(4)]
    lines = [
        "  ".join(cell[:60].ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {v: sum(o.verdict == v for o in outcomes) for v in (REFUSED, ACCEPTED, WRONG, SKIPPED)}
    lines.append("")
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


def find_signing_key(settings: HarnessSettings, state: StackState) -> str | None:
    """The PEM that signs the target's tokens, when the harness may know it: the file named by
    HARNESS_JWT_SIGNING_KEY_FILE, else the key a local stack keeps in its state directory."""
    if settings.jwt_signing_key_file is not None:
        try:
            return settings.jwt_signing_key_file.read_text()
        except OSError as exc:
            raise HarnessError(
                f"HARNESS_JWT_SIGNING_KEY_FILE={settings.jwt_signing_key_file}: {exc}"
            ) from None
    if state.target == "local" and state.state_dir:
        local = Path(state.state_dir) / "secrets" / "jwt.pem"
        if local.is_file():
            return local.read_text()
    return None

"""The gateway's app: its services built once from the settings, the start-up and shutdown of
the outbox relay and the status projection, and the routers of its public API under /api/v1
(`api/`: auth, commands, archive; models in `models.py`)."""

import asyncio
import hashlib
import hmac
import logging
from pathlib import Path

from fastapi import FastAPI

from reference_services.common import topology
from reference_services.common.app import Readiness, create_app
from reference_services.common.db import Database
from reference_services.common.errors import TransientError
from reference_services.common.resilience import CircuitBreaker, RetryPolicy
from reference_services.common.runtime import Runtime, lifespan_for
from reference_services.common.tasks import every, supervised
from reference_services.gateway.api import archive as archive_api
from reference_services.gateway.api import auth as auth_api
from reference_services.gateway.api import commands as commands_api
from reference_services.gateway.api import keys as keys_api
from reference_services.gateway.api import portal as portal_api
from reference_services.gateway.api.deps import Services
from reference_services.gateway.api.portal import PortalSources
from reference_services.gateway.api_changes import API_VERSION
from reference_services.gateway.apikeys import ApiKeys
from reference_services.gateway.archive_cache import ArchiveCache, ArchiveChanges
from reference_services.gateway.archive_client import ArchiveClient
from reference_services.gateway.auth import TokenService, hash_password
from reference_services.gateway.caching import ETagMiddleware
from reference_services.gateway.login_gate import LoginGate
from reference_services.gateway.oidc import OidcVerifier
from reference_services.gateway.projection import StatusProjection
from reference_services.gateway.ratelimit import TokenBucketLimiter
from reference_services.gateway.relay import OutboxRelay
from reference_services.gateway.secrets_store import GatewaySecrets, SecretStore, SecretStoreError
from reference_services.gateway.sessions import Sessions
from reference_services.gateway.settings import GatewaySettings
from reference_services.gateway.shared_ratelimit import SharedLimiter

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


async def _refresh_keys(store: SecretStore, tokens: TokenService) -> None:
    """Apply the signing keys the store holds now (a rotation); the pepper stays as started."""
    found = await asyncio.to_thread(store.read)
    previous = tuple((k.kid, k.public_pem) for k in found.previous_keys)
    state = (found.jwt_key_id, found.jwt_private_key, previous)
    if state != tokens.key_state:
        tokens.set_keys(found.jwt_private_key, found.jwt_key_id, previous)
        log.info(
            "signing key now %s (version %s); still verifying %s",
            found.jwt_key_id, found.version, [k for k, _ in previous],
        )  # fmt: skip


def _derived_pepper(private_pem: str) -> str:
    return hmac.new(private_pem.encode(), b"altlas api-key pepper", hashlib.sha256).hexdigest()


def _store(settings: GatewaySettings) -> SecretStore | None:
    if not settings.vault_addr:
        return None
    return SecretStore(
        settings.vault_addr,
        settings.vault_role_id or "",
        settings.vault_secret_id or "",
        mount=settings.vault_kv_mount,
        path=settings.vault_secret_path,
    )


def _initial_secrets(settings: GatewaySettings, store: SecretStore | None) -> GatewaySecrets:
    if store is not None:
        found = store.read()  # no start without it: SecretStoreError ends the process
        log.info("secrets read from %s (version %s)", settings.vault_addr, found.version)
        return found
    if not settings.jwt_private_key:  # the settings' validator already refused this
        raise SecretStoreError("no signing key")
    return GatewaySecrets(settings.jwt_private_key, settings.jwt_key_id, settings.api_key_pepper)


def build_app(settings: GatewaySettings) -> FastAPI:
    readiness = Readiness()
    runtime = Runtime(settings, readiness)
    store = _store(settings)
    secrets = _initial_secrets(settings, store)
    tokens = TokenService(
        secrets.jwt_private_key,
        kid=secrets.jwt_key_id,
        previous=tuple((k.kid, k.public_pem) for k in secrets.previous_keys),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl_s=settings.access_token_ttl_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        leeway_s=settings.jwt_leeway_s,
    )
    sessions = Sessions(settings.refresh_token_ttl_s)
    api_keys = ApiKeys(secrets.api_key_pepper or _derived_pepper(secrets.jwt_private_key))
    oidc = (
        OidcVerifier(
            settings.oidc_issuer,
            settings.oidc_audience,
            algorithms=settings.oidc_algorithms,
            role_scopes=settings.oidc_role_scopes,
            roles_claim=settings.oidc_roles_claim,
            username_prefix=settings.oidc_username_prefix,
            leeway_s=settings.jwt_leeway_s,
            refetch_min_s=settings.oidc_jwks_refetch_min_s,
            ttl_s=settings.oidc_jwks_ttl_s,
        )
        if settings.oidc_issuer
        else None
    )
    login_gate = LoginGate(
        TokenBucketLimiter(
            settings.login_failure_burst, settings.login_failure_refill_per_min / 60
        ),
        shared=SharedLimiter(
            runtime.messaging,
            settings.login_failure_burst,
            settings.login_failure_refill_per_min / 60,
            timeout_s=settings.rate_limit_store_timeout_s,
            name="login",
        )
        if settings.rate_limit_shared
        else None,
    )
    limiter = SharedLimiter(
        runtime.messaging if settings.rate_limit_shared else None,
        settings.rate_limit_capacity,
        settings.rate_limit_refill_per_s,
        timeout_s=settings.rate_limit_store_timeout_s,
    )
    archive = ArchiveClient(
        settings.archive_url,
        settings.archive_timeout_s,
        breaker=CircuitBreaker(
            settings.archive_breaker_failures, settings.archive_breaker_reset_s, name="archive"
        ),
        retry=RetryPolicy(
            base_s=settings.archive_retry_base_s,
            max_s=4 * settings.archive_retry_base_s,
            max_attempts=settings.archive_retry_attempts,
        ),
    )

    archive_cache = ArchiveCache(
        read_ttl_s=settings.archive_cache_read_ttl_s,
        search_ttl_s=settings.archive_cache_search_ttl_s,
        settle_s=settings.archive_cache_settle_s,
        max_entries=settings.archive_cache_max_entries,
    )

    async def start(rt: Runtime) -> None:
        pool = rt.database.pool
        for user in settings.seed_users:
            await pool.execute(
                "INSERT INTO users (username, password_hash, roles) VALUES ($1, $2, $3)"
                " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
                " roles = EXCLUDED.roles",
                user["username"],
                hash_password(user["password"]),
                [user["role"]],
            )
        try:
            await limiter.provision()
        except TransientError as exc:  # an older NATS, no JetStream: limits stay per process
            log.error("rate-limit counters unavailable, limiting per process: %s", exc)
        relay = OutboxRelay(
            pool,
            rt.messaging,
            poll_s=settings.outbox_poll_s,
            batch=settings.outbox_batch,
            retention_s=settings.outbox_retention_s,
            prune_every_s=settings.outbox_prune_every_s,
        )
        relay.start()
        rt.extras["relay"] = relay
        rt.messaging.consume(topology.GATEWAY_PROJECTION, StatusProjection(pool))
        changes = rt.extras["archive_changes"] = ArchiveChanges(rt.messaging, archive_cache)
        changes.start()
        stopping = rt.extras["stopping"] = asyncio.Event()
        if store is not None:
            rt.extras["secret_refresh"] = supervised(
                "secret-refresh",
                lambda: every(
                    "secret refresh",
                    settings.vault_refresh_s,
                    lambda: _refresh_keys(store, tokens),
                    stopping,
                ),
                stopping,
            )
        rt.extras["session_prune"] = supervised(
            "session-prune",
            lambda: every(
                "session prune",
                settings.session_prune_every_s,
                lambda: sessions.prune(pool),
                stopping,
                max_share=0.05,
            ),
            stopping,
        )

    async def stop(rt: Runtime) -> None:
        if "stopping" in rt.extras:
            rt.extras["stopping"].set()
            await rt.extras["session_prune"]
            if "secret_refresh" in rt.extras:
                await rt.extras["secret_refresh"]
        changes: ArchiveChanges | None = rt.extras.get("archive_changes")
        if changes is not None:
            await changes.stop()
        relay: OutboxRelay | None = rt.extras.get("relay")
        if relay is not None:
            await relay.stop()
        await archive.close()
        if oidc is not None:
            await oidc.close()

    app = create_app(
        title="ALT_LAS API Gateway",
        version=API_VERSION,
        description=(
            "Public API of ALT_LAS: submit natural-language commands (Turkish or English), follow"
            " their status through segmentation, execution and archiving, and search the archive."
        ),
        lifespan=lifespan_for(
            runtime, database=Database(settings, MIGRATIONS), start=start, stop=stop
        ),
        readiness=readiness,
        inner_middleware=(ETagMiddleware,),
        trust_traceparent=settings.trace_trust_client,
    )
    app.state.gateway = Services(
        tokens, limiter, archive, sessions, login_gate, api_keys, oidc, archive_cache
    )
    app.state.portal_sources = PortalSources(settings.portal_openapi_urls)
    for api in (auth_api, commands_api, archive_api, keys_api, portal_api):
        app.include_router(api.router)
    return app

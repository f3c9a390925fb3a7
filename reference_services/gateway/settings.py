"""Gateway settings (environment prefix ALTLAS_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from reference_services.common import topology
from reference_services.common.settings import DatabaseSettings, ServiceSettings


class GatewaySettings(ServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="ALTLAS_")
    # At least one of each group must be set (checked below; the manifests' policy reads it).
    REQUIRED_ONE_OF: ClassVar[tuple[tuple[str, ...], ...]] = (("jwt_private_key", "vault_addr"),)

    service_name: str = "gateway"
    port: int = 8000
    # RS256 signing key (PEM), here or in the secret store: a gateway without one must not start.
    jwt_private_key: str | None = Field(None, min_length=100)
    jwt_key_id: str = "altlas-1"
    # A Vault-compatible KV v2 store (OpenBao) holding the signing key and the API-key pepper
    # (secrets_store.py), read through AppRole at start-up and every vault_refresh_s.
    vault_addr: str | None = None
    vault_role_id: str | None = None
    vault_secret_id: str | None = None
    vault_kv_mount: str = "secret"
    vault_secret_path: str = "altlas/gateway"  # noqa: S105 a path, not a secret
    vault_refresh_s: float = Field(30.0, gt=0)
    jwt_issuer: str = "altlas-gateway"
    jwt_audience: str = "altlas-api"
    access_token_ttl_s: int = Field(900, ge=30)
    refresh_token_ttl_s: int = Field(86_400, ge=60)
    # HMAC key over stored API-key hashes (apikeys.py); unset: derived from jwt_private_key, so
    # replicas sharing the signing key agree. Rotating it invalidates every API key.
    api_key_pepper: str | None = Field(None, min_length=16)
    # Clock skew tolerated on a token's exp, nbf and iat.
    jwt_leeway_s: float = Field(30.0, ge=0, le=300)
    # Failed logins per username: this many at once, then this many a minute.
    login_failure_burst: int = Field(10, ge=1)
    login_failure_refill_per_min: float = Field(10.0, gt=0)
    # Expired refresh tokens are deleted this often.
    session_prune_every_s: float = Field(3600.0, gt=0)
    # An external OpenID provider whose access tokens the API accepts too (oidc.py); none: only
    # the gateway's own tokens. Found by discovery at <issuer>/.well-known/openid-configuration.
    oidc_issuer: str | None = None
    oidc_audience: str = "urn:altlas:api"
    oidc_algorithms: tuple[str, ...] = ("RS256", "PS256", "ES256")
    # Which granted scope means which role; and a claim listing roles by name (e.g. Keycloak's
    # realm_access.roles), if the provider sends one.
    oidc_role_scopes: dict[str, str] = Field(
        default_factory=lambda: {
            "altlas.admin": "admin",
            "altlas.user": "user",
            "altlas.viewer": "viewer",
        }
    )
    oidc_roles_claim: str | None = None
    # The provider's subjects become users named <prefix><sub>, apart from local users.
    oidc_username_prefix: str = Field("oidc:", min_length=1)
    # Keys are refetched for an unknown kid at most this often, and refreshed this often anyway.
    oidc_jwks_refetch_min_s: float = Field(1.0, ge=0)
    oidc_jwks_ttl_s: float = Field(300.0, gt=0)
    # Demo users created at start-up; only the local stack sets this.
    seed_users: list[dict[str, str]] = Field(default_factory=list)
    archive_url: str = "http://127.0.0.1:8003"
    # Where the portal (/portal) reads the other services' OpenAPI documents: service -> URL.
    portal_openapi_urls: dict[str, str] = Field(default_factory=dict)
    archive_timeout_s: float = Field(3.0, gt=0)
    # Circuit breaker around archive calls: open after this many consecutive failures (5xx,
    # timeouts, refused connections), probe again after archive_breaker_reset_s.
    archive_breaker_failures: int = Field(5, ge=1)
    archive_breaker_reset_s: float = Field(5.0, gt=0)
    # Attempts per archive read (GET only), the first included; back-off starts at base_s.
    archive_retry_attempts: int = Field(2, ge=1, le=5)
    archive_retry_base_s: float = Field(0.05, gt=0, le=1.0)
    # The cache of archive answers (gateway/archive_cache.py), invalidated by the archive's
    # change events on every replica: how long a read / a search is kept at most (0: not kept),
    # how long after a change a search is not stored (the index's refresh interval, 1 s, plus a
    # margin), and how many answers one replica keeps (0 turns the cache off).
    # The gateway is the edge: a client's traceparent is kept as a link on a trace of the
    # gateway's own, so no caller picks the trace its requests join. True behind a proxy that
    # starts the traces itself.
    trace_trust_client: bool = False
    archive_cache_read_ttl_s: float = Field(30.0, ge=0)
    archive_cache_search_ttl_s: float = Field(10.0, ge=0)
    archive_cache_settle_s: float = Field(1.5, ge=0)
    archive_cache_max_entries: int = Field(2000, ge=0)
    rate_limit_capacity: float = Field(200.0, gt=0)
    rate_limit_refill_per_s: float = Field(100.0, gt=0)
    # Count the limits in NATS, shared by every replica (shared_ratelimit.py); off: per process.
    rate_limit_shared: bool = True
    # How long a request waits for the counter store before the local bucket judges it.
    rate_limit_store_timeout_s: float = Field(0.25, gt=0, le=5)
    outbox_poll_s: float = Field(1.0, gt=0)
    outbox_batch: int = Field(100, ge=1, le=1000)
    # Published outbox rows are deleted after this long (checked every outbox_prune_every_s).
    outbox_retention_s: float = Field(86_400.0, ge=300)
    outbox_prune_every_s: float = Field(600.0, gt=0)

    @model_validator(mode="after")
    def _a_signing_key(self) -> GatewaySettings:
        if self.vault_addr:
            if not (self.vault_role_id and self.vault_secret_id):
                raise ValueError("vault_addr needs vault_role_id and vault_secret_id (AppRole)")
        elif not self.jwt_private_key:
            raise ValueError("set jwt_private_key, or vault_addr to read it from a secret store")
        return self

    @model_validator(mode="after")
    def _windows_fit_the_counter_store(self) -> GatewaySettings:
        """The shared limits read the previous window too: the counter stream must keep two
        windows of each limit (topology.RATE_LIMIT_MAX_AGE_S), or counts expire mid-window."""
        keep = topology.RATE_LIMIT_MAX_AGE_S
        for name, capacity, per_s in (
            ("rate_limit", self.rate_limit_capacity, self.rate_limit_refill_per_s),
            ("login_failure", self.login_failure_burst, self.login_failure_refill_per_min / 60),
        ):
            if self.rate_limit_shared and 2 * capacity / per_s > keep:
                raise ValueError(
                    f"{name}: a window of {capacity / per_s:g} s (capacity / refill); the shared"
                    f" counters keep {keep:g} s, two windows at most {keep / 2:g} s"
                )
        return self

    @field_validator("oidc_role_scopes")
    @classmethod
    def _scope_roles(cls, mapping: dict[str, str]) -> dict[str, str]:
        unknown = {r for r in mapping.values() if r not in ("admin", "user", "viewer")}
        if unknown:
            raise ValueError(f"oidc_role_scopes maps to unknown roles {sorted(unknown)}")
        return mapping

    @field_validator("seed_users")
    @classmethod
    def _seed_roles(cls, users: list[dict[str, str]]) -> list[dict[str, str]]:
        for u in users:
            if not {"username", "password", "role"} <= set(u):
                raise ValueError("each seed user needs username, password and role")
            if u["role"] not in ("admin", "user", "viewer"):
                raise ValueError(f"unknown role {u['role']!r} for seed user {u['username']!r}")
        return users

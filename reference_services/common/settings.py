"""Settings shared by every service; each service extends ServiceSettings with its own prefix.

Built once in the entry point and passed in. Instances are frozen: a late change is an error.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """What every service needs: where it listens, NATS, logging, shutdown."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="ALTLAS_")

    service_name: str = "altlas"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "INFO"
    # A consumer fetches this many messages at once and handles them concurrently.
    consumer_batch: int = Field(16, ge=1, le=512)
    # Delivery limits are declared per consumer in schemas/topology.json (with reasons); these
    # override them for every consumer of the service when set (tests, an incident).
    max_deliver: int | None = Field(None, ge=1)
    # A message not acked within this is redelivered (to another replica, after a crash).
    # Long handlers keep their messages with in-progress heartbeats, so it can be short.
    ack_wait_s: float | None = Field(None, gt=0)
    # NAK back-off for transient errors, seconds, one per redelivery (the last one repeats).
    nak_backoff_s: tuple[float, ...] | None = None
    # The service's NATS user and password (one user per service, allowed only its own
    # subjects: docs/messaging.md), and the CA file of the server's TLS certificate (the URLs
    # are then tls://). Unset: a server without accounts, or without TLS.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_tls_ca: str | None = None
    # How often the service reads its streams' and durables' state into /metrics; 0: never.
    stream_metrics_s: float = Field(15.0, ge=0)
    # Replicas of the replicated streams: 1 on a single server, 3 in a cluster.
    nats_replicas: int = Field(1, ge=1, le=5)
    shutdown_grace_s: float = Field(10.0, ge=0)
    # When true, stream/consumer configs are created or updated at start-up.
    provision_topology: bool = True
    # Test mode mounts test-only endpoints (the archive's /_test/provider-states, which the Pact
    # verifier calls to set provider states). Off by default: a deployment never exposes them.
    test_mode: bool = False
    # Finished trace spans are appended here as JSON lines (common/tracing.py); unset: no tracing.
    trace_file: str | None = None


class DatabaseSettings(BaseSettings):
    """A service's PostgreSQL database."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    database_url: str = Field(..., description="postgresql://user:pass@host:port/db")
    db_pool_min: int = Field(1, ge=0)
    db_pool_max: int = Field(10, ge=1)
    db_command_timeout_s: float = Field(10.0, gt=0)

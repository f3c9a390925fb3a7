"""The harness's settings: where state lives and, optionally, an external deployment's endpoints.

Environment variables (prefix HARNESS_) override the state file, so the same suites run against
the local stack or anyone else's deployment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HarnessSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="HARNESS_")

    state_dir: Path = Path(".harness")
    # What `harness up` (and the pytest `stack` fixture) starts: local, docker or kind.
    target: str = "local"
    # Where the OpenSearch jars are cached (kept across `harness down`).
    cache_dir: Path = Path(".harness/cache")
    # Endpoints of an external deployment; when gateway_url is set, nothing is started.
    gateway_url: str | None = None
    segmentation_url: str | None = None
    runner_url: str | None = None
    archive_url: str | None = None
    nats_url: str | None = None
    # How the harness logs in to that NATS (user:password; an operator of the ALTLAS account)
    # and the CA file of its TLS certificate (tls:// URLs).
    nats_credentials: str | None = None
    nats_ca: str | None = None
    postgres_url: str | None = None
    # An existing OpenSearch for the local stack (or the external deployment's).
    opensearch_url: str | None = None
    # Credentials of an external deployment, one per role (user:password).
    admin_credentials: str | None = None
    user_credentials: str | None = None
    viewer_credentials: str | None = None
    # A second ordinary user (role user), for the checks that one user cannot reach another's
    # commands (scenarios/security); the local stacks use a load-test account.
    other_credentials: str | None = None
    # The PEM private key that signs the deployment's access tokens, if the harness may use it:
    # the attack corpus then also sends correctly signed tokens with wrong claims (expired, wrong
    # audience, …). The local stack's is found by itself; elsewhere those cases are skipped.
    jwt_signing_key_file: Path | None = None
    opensearch_heap: str = "512m"
    # The archive's index family in OpenSearch (scenarios/data): the alias searches read and
    # the alias new records are written to (default "<index_alias>-write").
    index_alias: str = "altlas-atlas"
    index_write_alias: str | None = None
    nats_sync: str = Field("always", description="JetStream sync_interval: 'always' or a duration")
    # NATS servers in the local stack: 1, or an odd number ≥ 3 forming a JetStream cluster with
    # every pipeline stream replicated on each (`harness up --nats-cluster 3`).
    nats_cluster: int = Field(1, ge=1, le=7)
    # The local stack's NATS with TLS (a CA of the harness's own) on client and route
    # connections and one user per service allowed only its subjects (docs/messaging.md);
    # false: plain text and no accounts, as before.
    nats_secure: bool = True
    log_level: str = "INFO"
    # Start the local stack's services in test mode (ALTLAS_TEST_MODE): they mount test-only
    # endpoints, such as the provider-state hook that contract verification needs.
    test_mode: bool = False
    # Put Toxiproxy on every dependency link (when its binary is available).
    toxiproxy: bool = True
    up_timeout_s: float = Field(240.0, gt=0)
    # Continuous WAL archiving and base backups (harness db backup/restore) on the local stack:
    # an object store (versitygw, `make versitygw`) and barman-cloud (`make pgtools`). Off, or
    # either missing: the stack runs without, and `harness status` says so.
    backups: bool = True
    # PostgreSQL's archive_timeout: the most a lost data directory can lose (RPO), in seconds.
    archive_timeout_s: int = Field(15, ge=1, le=3600)
    # Base backups `harness db backup` keeps (older ones and the WAL only they need go).
    backup_retention: int = Field(3, ge=1)
    backup_timeout_s: float = Field(900.0, gt=0)
    # How long a restore may replay WAL before it is given up (and the stack put back).
    restore_timeout_s: float = Field(600.0, gt=0)
    # The docker target (`harness up --target docker`). Dependencies run from these images
    # (official ones by default); one that is neither present nor pullable is replaced by an
    # equivalent built from the local stack's own binaries (harness.containers.infra). The
    # services run as altlas/<service>:<docker_tag>, built on docker_base_image (or, when that
    # cannot be pulled, on a Debian bookworm base made with debootstrap).
    docker_nats_image: str = "nats:2.10"
    docker_postgres_image: str = "postgres:16"
    docker_opensearch_image: str = "opensearchproject/opensearch:2.19.3"
    docker_base_image: str = "python:3.11-slim"
    docker_tag: str = "dev"
    # Test cases per operation in scenarios/fuzz: small enough for CI, where the whole suite has
    # minutes; `make fuzz` (FUZZ_MAX_EXAMPLES) is where bigger budgets run.
    fuzz_max_examples: int = Field(25, ge=1)
    # The suites' own knobs, read here once (HARNESS_<NAME>) rather than from os.environ.
    # scenarios/fuzz: the seed of the CI budget (fixed, so a red build can be reproduced).
    fuzz_seed: int = 1
    # scenarios/chaos/test_campaign.py: unset means `make campaign`'s defaults.
    campaign_s: float | None = Field(None, gt=0)
    campaign_seed: int | None = None
    # scenarios/docker/test_container_campaign.py.
    docker_campaign_s: float = Field(40.0, gt=0)
    docker_campaign_seed: int = 19
    # scenarios/e2e/test_rate_limit.py: the deployment's per-user bucket, the burst sent at it,
    # and the connections it is sent over (fewer through `kubectl port-forward`: k8s-local sets 10).
    rate_limit_capacity: float = Field(200.0, gt=0)
    rate_limit_refill: float = Field(100.0, gt=0)
    rate_limit_burst: int = Field(1000, ge=1)
    rate_limit_connections: int = Field(100, ge=1)
    # The JSON Schemas the suites validate against (harness/schemas.py): ours unless a
    # deployment ships its own copy.
    schema_dir: Path | None = None

    @property
    def state_file(self) -> Path:
        return self.state_dir / "stack.json"

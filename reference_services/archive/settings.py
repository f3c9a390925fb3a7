"""Archive settings (environment prefix ALTLAS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.common.settings import DatabaseSettings, ServiceSettings


class ArchiveSettings(ServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="ALTLAS_")

    service_name: str = "archive"
    port: int = 8003
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_timeout_s: float = Field(5.0, gt=0)
    # Index family prefix: read alias "<prefix>", write alias "<prefix>-write", indices
    # "<prefix>-v<N>-<generation>" (reference_services/archive/search/design.py).
    index_prefix: str = "altlas-atlas"
    # Replica shards per index: 0 on one OpenSearch node, 1 (or more) in a cluster. Applied to
    # the index templates and, at start-up, to the indices that exist.
    index_replicas: int = Field(0, ge=0, le=5)
    # How often rows not yet in OpenSearch are (re)indexed from PostgreSQL.
    catch_up_interval_s: float = Field(2.0, gt=0)
    # How often the index lifecycle runs (rollover, retention); 0 turns it off (a cluster with
    # the ISM plugin runs deploy/kubernetes/overlays/prod/opensearch/ism-policy.json instead).
    # The thresholds default to reference_services/schemas/search/lifecycle.json.
    # How often the statistics views (GET /v1/atlas/stats) are refreshed; 0 turns it off.
    stats_refresh_s: float = Field(60.0, ge=0)
    lifecycle_interval_s: float = Field(300.0, ge=0)
    rollover_max_docs: int | None = Field(None, ge=1)
    rollover_max_size: str | None = None
    rollover_max_age: str | None = None
    retention: str | None = None

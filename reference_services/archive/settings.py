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
    # Index name prefix; the alias is "<prefix>" and the first index "<prefix>-v1".
    index_prefix: str = "altlas-atlas"
    # How often rows not yet in OpenSearch are (re)indexed from PostgreSQL.
    catch_up_interval_s: float = Field(2.0, gt=0)

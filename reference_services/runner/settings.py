"""Runner settings (environment prefix ALTLAS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from reference_services.common.settings import DatabaseSettings, ServiceSettings


class RunnerSettings(ServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="ALTLAS_")

    service_name: str = "runner"
    port: int = 8002
    # Segments of one ALT run at most this many at a time.
    max_parallel_segments: int = Field(4, ge=1, le=64)
    executor: str = "simulated"

"""Segmentation settings (environment prefix ALTLAS_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from reference_services.common.settings import ServiceSettings


class SegmentationSettings(ServiceSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="ALTLAS_")

    service_name: str = "segmentation"
    port: int = 8001

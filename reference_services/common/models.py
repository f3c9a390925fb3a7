"""Pydantic models of the shared documents, for OpenAPI response schemas.

The JSON Schemas in reference_services/schemas/ stay the source of truth: every document is
validated against them before it is published or served; these models only describe responses.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^s[0-9]+$")
    task_type: str
    content: str
    parameters: dict[str, Any]
    dependencies: list[str]
    priority: int = Field(ge=1, le=5)


class AltDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1.0"]
    id: str
    command_id: str
    command: str
    language: Literal["tr", "en"]
    mode: Literal["normal", "dream", "explore", "chaos"]
    chaos_level: int | None = None
    persona: str | None = None
    created_at: str
    segments: list[Segment]


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["completed", "failed", "skipped"]
    started_at: str | None
    finished_at: str | None
    duration_ms: int
    output: dict[str, Any] | None
    error: str | None


class ExecutionGraph(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: list[str]
    edges: list[list[str]]


class LastDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1.0"]
    id: str
    alt_id: str
    command_id: str
    status: Literal["success", "partial_success", "failure"]
    success_rate: float = Field(ge=0, le=1)
    started_at: str
    finished_at: str
    duration_ms: int
    task_results: dict[str, TaskResult]
    execution_graph: ExecutionGraph


class AtlasDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1.0"]
    id: str
    last_id: str
    alt_id: str
    command_id: str
    command: str
    language: Literal["tr", "en"]
    success_rate: float = Field(ge=0, le=1)
    status: Literal["active", "archived", "deleted"]
    tags: list[str]
    summary: str
    created_at: str
    updated_at: str


Mode = Literal["normal", "dream", "explore", "chaos"]
Language = Literal["tr", "en"]
AtlasStatus = Literal["active", "archived", "deleted"]

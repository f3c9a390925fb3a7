"""Segmentation's HTTP app: the synchronous preview endpoint plus ops endpoints."""

import uuid
from typing import Annotated, Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, model_validator

from reference_services.common import topology
from reference_services.common.app import Readiness, create_app, problem_responses
from reference_services.common.models import AltDocument, Language, Mode
from reference_services.common.runtime import Runtime, lifespan_for
from reference_services.common.validation import (
    CHAOS_LEVEL_RULE,
    NOT_BLANK,
    ChaosLevel,
    SchemaPattern,
    check_command,
)
from reference_services.segmentation.service import SegmentationHandler, build_alt
from reference_services.segmentation.settings import SegmentationSettings


class SegmentRequest(BaseModel):
    # The schema states the cross-field rules the validator checks (see common.validation).
    model_config = ConfigDict(extra="forbid", json_schema_extra=CHAOS_LEVEL_RULE)

    command: Annotated[str, Field(min_length=1, max_length=4000), SchemaPattern(NOT_BLANK)]
    mode: Mode = "normal"
    chaos_level: ChaosLevel | None = None
    persona: str | None = Field(default=None, max_length=100)
    language: Language | None = None

    @model_validator(mode="after")
    def _check(self) -> "SegmentRequest":
        check_command(self.command, self.mode, self.chaos_level)
        return self


def build_app(settings: SegmentationSettings) -> FastAPI:
    readiness = Readiness()
    runtime = Runtime(settings, readiness)

    async def start(rt: Runtime) -> None:
        rt.messaging.consume(topology.SEGMENTATION, SegmentationHandler(rt.messaging))

    app = create_app(
        title="ALT_LAS Segmentation",
        version="1.0.0",
        description="Turns a natural-language command (Turkish or English) into an ALT document.",
        lifespan=lifespan_for(runtime, database=None, start=start),
        readiness=readiness,
    )

    @app.post(
        "/v1/segment",
        response_model=AltDocument,
        tags=["segmentation"],
        summary="Segment a command synchronously (preview; nothing is published)",
        responses=problem_responses(422),
    )
    async def segment_preview(body: SegmentRequest) -> dict[str, Any]:
        # A preview's ids are derived from the command text: the same request, the same answer.
        command_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"preview:{body.command}"))
        return build_alt(
            command_id=command_id,
            command=body.command,
            mode=body.mode,
            chaos_level=body.chaos_level,
            persona=body.persona,
            language=body.language,
            created_at="1970-01-01T00:00:00.000Z",
        )

    return app

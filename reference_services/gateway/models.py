"""The gateway's request and response models, and the links its answers carry."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reference_services.common.models import AtlasDocument, AtlasStatus, Language, Mode
from reference_services.common.validation import (
    CHAOS_LEVEL_RULE,
    NOT_BLANK,
    ChaosLevel,
    Metadata,
    SchemaPattern,
    Storable,
    check_command,
)

API = "/api/v1"
CommandStatusName = Literal["accepted", "segmented", "running", "completed", "failed", "archived"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Looked up in PostgreSQL, which cannot take NUL or a lone surrogate: refused, not a 500.
    username: Annotated[str, Field(min_length=1, max_length=100), Storable()]
    password: str = Field(min_length=1, max_length=200)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=4000)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class CommandRequest(BaseModel):
    # The schema states the cross-field rules the validator checks (see common.validation).
    model_config = ConfigDict(extra="forbid", json_schema_extra=CHAOS_LEVEL_RULE)

    # Text fields and metadata are stored in PostgreSQL, so they hold no NUL (see Storable).
    command: Annotated[
        str, Field(min_length=1, max_length=4000), Storable(), SchemaPattern(NOT_BLANK)
    ]
    mode: Mode = "normal"
    chaos_level: ChaosLevel | None = None
    persona: Annotated[str, Field(max_length=100), Storable()] | None = None
    language: Language | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _check(self) -> "CommandRequest":
        check_command(self.command, self.mode, self.chaos_level)
        return self


class CommandLinks(BaseModel):
    self: str
    alt: str
    last: str
    atlas: str


class CommandAccepted(BaseModel):
    id: uuid.UUID
    status: CommandStatusName
    links: CommandLinks


class CommandStatus(BaseModel):
    id: uuid.UUID
    status: CommandStatusName
    final: bool = Field(
        description="True when nothing more will happen to this command: it is archived, or a"
        " stage failed it before execution produced a LAST (a failed execution is still archived)"
    )
    detail: str | None
    command: str
    mode: Mode
    language: Language | None
    submitted_by: str
    alt_id: uuid.UUID | None
    last_id: uuid.UUID | None
    atlas_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    links: CommandLinks


class ArchiveSearchResult(BaseModel):
    total: int
    page: int
    size: int
    items: list[AtlasDocument]
    facets: dict[str, dict[str, int]]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AtlasStatus


# OpenAPI links: where a client goes next with the id in an answer. Stateful API fuzzing follows
# them: submit → status → documents. Documents hang off the status, not the submission: a 202
# promises processing, not documents, which appear (404 + Retry-After until then) stage by stage.
ACCEPTED_LINKS: dict[str, Any] = {
    "GetCommandStatus": {
        "operationId": "get_command",
        "parameters": {"command_id": "$response.body#/id"},
        "description": "The accepted command's status",
    }
}
STATUS_LINKS: dict[str, Any] = {
    f"GetCommand{kind.capitalize()}": {
        "operationId": f"get_command_{kind}",
        "parameters": {"command_id": "$response.body#/id"},
        "description": f"The command's {kind.upper()} document, once that stage has produced it",
    }
    for kind in ("alt", "last", "atlas")
}


def links(command_id: str) -> dict[str, str]:
    base = f"{API}/commands/{command_id}"
    return {"self": base, "alt": f"{base}/alt", "last": f"{base}/last", "atlas": f"{base}/atlas"}


def status_body(row: dict[str, Any]) -> dict[str, Any]:
    cid = str(row["id"])
    return {
        "id": cid,
        "status": row["status"],
        "final": row["status"] == "archived"
        or (row["status"] == "failed" and row["last_id"] is None),
        "detail": row["status_detail"],
        "command": row["command"],
        "mode": row["mode"],
        "language": row["language"],
        "submitted_by": row["username"],
        "alt_id": row["alt_id"],
        "last_id": row["last_id"],
        "atlas_id": row["atlas_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "links": links(cid),
    }

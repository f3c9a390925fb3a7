"""Commands: submit one (idempotently), read its status, and read its documents."""

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response

from reference_services.common.app import problem, problem_responses
from reference_services.common.logging import correlation_id_var, log_context
from reference_services.common.models import AltDocument, AtlasDocument, LastDocument
from reference_services.gateway import commands
from reference_services.gateway.api.deps import AUTHN, any_role, pool, require
from reference_services.gateway.auth import Principal
from reference_services.gateway.models import (
    ACCEPTED_LINKS,
    API,
    STATUS_LINKS,
    CommandAccepted,
    CommandRequest,
    CommandStatus,
    links,
    status_body,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["commands"])


@router.post(
    f"{API}/commands",
    status_code=202,
    response_model=CommandAccepted,
    summary="Submit a command; it is processed asynchronously",
    responses={**AUTHN, **problem_responses(409, 422), 202: {"links": ACCEPTED_LINKS}},
    operation_id="submit_command",
)
async def submit(
    body: CommandRequest,
    request: Request,
    response: Response,
    who: Annotated[Principal, Depends(require("admin", "user"))],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> dict[str, Any]:
    try:
        row, created = await commands.accept(
            pool(request),
            username=who.username,
            body=body.model_dump(),
            idempotency_key=idempotency_key,
            correlation_id=correlation_id_var.get() or "",
        )
    except commands.IdempotencyConflict as exc:
        raise HTTPException(409, str(exc)) from None
    cid = str(row["id"])
    response.headers["Location"] = f"{API}/commands/{cid}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    with log_context(command_id=cid):
        log.info("command accepted" if created else "idempotent replay of an accepted command")
    return {"id": cid, "status": row["status"], "links": links(cid)}


async def _own_command(request: Request, command_id: uuid.UUID, who: Principal) -> dict[str, Any]:
    row = await commands.get(pool(request), str(command_id))
    if row["username"] != who.username and not who.has_any(("admin", "viewer")):
        # Same answer as a missing command: do not confirm that someone else's id exists.
        raise HTTPException(404, f"command {str(command_id)!r} not found")
    return row


@router.get(
    f"{API}/commands/{{command_id}}",
    response_model=CommandStatus,
    summary="A command's status and the ids of its documents",
    responses={**AUTHN, **problem_responses(404, 422), 200: {"links": STATUS_LINKS}},
    operation_id="get_command",
)
async def command_status(
    command_id: uuid.UUID,
    request: Request,
    who: Annotated[Principal, Depends(any_role)],
) -> dict[str, Any]:
    return status_body(await _own_command(request, command_id, who))


def _document_route(kind: str, model: Any) -> None:
    async def read_document(
        command_id: uuid.UUID,
        request: Request,
        who: Annotated[Principal, Depends(any_role)],
    ) -> Any:
        await _own_command(request, command_id, who)
        doc = await commands.get_document(pool(request), str(command_id), kind)
        if doc is None:
            return problem(
                404,
                "Not Found",
                f"the {kind} document of command {command_id} is not available yet",
                headers={"Retry-After": "1"},
            )
        return doc

    router.get(
        f"{API}/commands/{{command_id}}/{kind}",
        response_model=model,
        summary=f"The {kind.upper()} document of a command",
        responses={**AUTHN, **problem_responses(404, 422)},
        operation_id=f"get_command_{kind}",
    )(read_document)


_document_route("alt", AltDocument)
_document_route("last", LastDocument)
_document_route("atlas", AtlasDocument)

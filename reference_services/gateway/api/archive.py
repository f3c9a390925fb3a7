"""The archive, proxied: search, read one record, change a record's status (admin). The
gateway checks the caller and the parameters; the archive service answers."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from reference_services.common.app import problem_responses
from reference_services.common.logging import correlation_id_var
from reference_services.common.models import AtlasDocument
from reference_services.common.search_params import SearchParams
from reference_services.gateway.api.deps import AUTHN, any_role, require, services
from reference_services.gateway.archive_client import ArchiveRejected
from reference_services.gateway.auth import Principal
from reference_services.gateway.models import API, ArchiveSearchResult, StatusChange

router = APIRouter(tags=["archive"])


async def _forward(request: Request, method: str, path: str, **kw: Any) -> Any:
    try:
        return await services(request).archive.request(
            method, path, correlation_id=correlation_id_var.get(), **kw
        )
    except ArchiveRejected as exc:
        return JSONResponse(exc.body, status_code=exc.status, media_type="application/problem+json")


@router.get(
    f"{API}/archive/search",
    response_model=ArchiveSearchResult,
    summary="Search archived commands (full text, filters, facets)",
    responses={**AUTHN, **problem_responses(422, 503)},
)
async def archive_search(
    request: Request,
    who: Annotated[Principal, Depends(any_role)],
    params: Annotated[SearchParams, Query()],
) -> Any:
    return await _forward(request, "GET", "/v1/atlas/search", params=params.query())


# `:uuid` keeps ".../search" from also matching this route: a PATCH there is a 405, not an
# id that fails validation (422), and a 405's Allow header names only the search's GET.
@router.get(
    f"{API}/archive/{{atlas_id:uuid}}",
    response_model=AtlasDocument,
    summary="One archived record",
    responses={**AUTHN, **problem_responses(404, 422, 503)},
)
async def archive_read(
    atlas_id: uuid.UUID,
    request: Request,
    who: Annotated[Principal, Depends(any_role)],
) -> Any:
    return await _forward(request, "GET", f"/v1/atlas/{atlas_id}")


@router.patch(
    f"{API}/archive/{{atlas_id:uuid}}",
    response_model=AtlasDocument,
    summary="Change an archived record's status (admin)",
    responses={**AUTHN, **problem_responses(404, 422, 503)},
)
async def archive_change(
    atlas_id: uuid.UUID,
    body: StatusChange,
    request: Request,
    who: Annotated[Principal, Depends(require("admin"))],
) -> Any:
    return await _forward(request, "PATCH", f"/v1/atlas/{atlas_id}", json=body.model_dump())

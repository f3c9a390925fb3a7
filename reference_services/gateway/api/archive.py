"""The archive, proxied: search, read one record, change a record's status (admin). The
gateway checks the caller and the parameters; the archive service answers."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from reference_services.common.app import problem_responses
from reference_services.common.logging import correlation_id_var
from reference_services.common.models import AtlasDocument, AtlasStatus, Language
from reference_services.common.validation import DateTime
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
    q: Annotated[str | None, Query(max_length=500)] = None,
    status: AtlasStatus | None = None,
    tag: Annotated[list[str] | None, Query(max_length=10)] = None,
    language: Language | None = None,
    min_success_rate: Annotated[float | None, Query(ge=0, le=1)] = None,
    created_from: DateTime | None = None,
    created_to: DateTime | None = None,
    # page × size stays within OpenSearch's 10 000-hit result window (the archive's limits).
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Any:
    params: list[tuple[str, str]] = [("page", str(page)), ("size", str(size))]
    for name, value in (
        ("q", q),
        ("status", status),
        ("language", language),
        ("min_success_rate", min_success_rate),
        ("created_from", created_from.isoformat() if created_from else None),
        ("created_to", created_to.isoformat() if created_to else None),
    ):
        if value is not None:
            params.append((name, str(value)))
    params.extend(("tag", t) for t in tag or [])
    return await _forward(request, "GET", "/v1/atlas/search", params=params)


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

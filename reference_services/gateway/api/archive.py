"""The archive, proxied: search, read one record, change a record's status (admin). The
gateway checks the caller and the parameters; the archive service answers — or, for reads and
searches, the gateway's cache of its answers (archive_cache.py), which the archive's change events
keep current. `X-Cache: hit|miss|bypass` says which."""

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from reference_services.common.app import problem_responses
from reference_services.common.logging import correlation_id_var
from reference_services.common.models import AtlasDocument
from reference_services.common.search_params import SearchParams
from reference_services.gateway.api.deps import AUTHN, any_role, require, services
from reference_services.gateway.archive_cache import READ, SEARCH
from reference_services.gateway.archive_client import ArchiveRejected
from reference_services.gateway.auth import Principal
from reference_services.gateway.models import API, ArchiveSearchResult, StatusChange

router = APIRouter(tags=["archive"])
CACHE_HEADER = "X-Cache"


async def _forward(request: Request, method: str, path: str, **kw: Any) -> Any:
    try:
        return await services(request).archive.request(
            method, path, correlation_id=correlation_id_var.get(), **kw
        )
    except ArchiveRejected as exc:
        return JSONResponse(exc.body, status_code=exc.status, media_type="application/problem+json")


async def _cached(
    request: Request,
    response: Response,
    kind: str,
    key: str,
    atlas_id: str | None,
    path: str,
    **kw: Any,
) -> Any:
    cache = services(request).archive_cache
    found = cache.get(kind, key)
    if found is not None:
        response.headers[CACHE_HEADER] = "hit"
        return found
    ticket = cache.begin(kind, key, atlas_id)
    answer = await _forward(request, "GET", path, **kw)
    if isinstance(answer, JSONResponse):
        return answer
    response.headers[CACHE_HEADER] = "miss" if cache.put(ticket, answer) else "bypass"
    return answer


@router.get(
    f"{API}/archive/search",
    response_model=ArchiveSearchResult,
    summary="Search archived commands (full text, filters, facets)",
    responses={**AUTHN, **problem_responses(422, 503)},
)
async def archive_search(
    request: Request,
    response: Response,
    who: Annotated[Principal, Depends(any_role)],
    params: Annotated[SearchParams, Query()],
) -> Any:
    query = params.query()
    key = urlencode(sorted(query))
    return await _cached(request, response, SEARCH, key, None, "/v1/atlas/search", params=query)


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
    response: Response,
    who: Annotated[Principal, Depends(any_role)],
) -> Any:
    record = str(atlas_id)
    return await _cached(request, response, READ, record, record, f"/v1/atlas/{atlas_id}")


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
    answer = await _forward(request, "PATCH", f"/v1/atlas/{atlas_id}", json=body.model_dump())
    # The caller reads its own change next, here: no waiting for the archive's event.
    services(request).archive_cache.changed(str(atlas_id))
    return answer

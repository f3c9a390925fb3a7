"""The archive search's query parameters, declared once: the archive serves them and the gateway
checks and forwards them (`Annotated[SearchParams, Query()]` lists each as its own query
parameter in OpenAPI, with its limits)."""

from typing import Annotated, Any

from pydantic import BaseModel, Field

from reference_services.common.models import AtlasStatus, Language
from reference_services.common.validation import DateTime


class SearchParams(BaseModel):
    q: Annotated[str | None, Field(max_length=500)] = None
    status: AtlasStatus | None = None
    tag: Annotated[list[str] | None, Field(max_length=10)] = None
    language: Language | None = None
    min_success_rate: Annotated[float | None, Field(ge=0, le=1)] = None
    created_from: DateTime | None = None
    created_to: DateTime | None = None
    # OpenSearch serves hits up to from + size = 10 000 (its default max_result_window);
    # page ≤ 100 with size ≤ 100 keeps every valid request inside it instead of a 503.
    page: Annotated[int, Field(ge=1, le=100)] = 1
    size: Annotated[int, Field(ge=1, le=100)] = 20

    def query(self) -> list[tuple[str, str]]:
        """As query parameters again (what the gateway forwards to the archive)."""
        params: list[tuple[str, str]] = [("page", str(self.page)), ("size", str(self.size))]
        for name, value in (
            ("q", self.q),
            ("status", self.status),
            ("language", self.language),
            ("min_success_rate", self.min_success_rate),
            ("created_from", self.created_from.isoformat() if self.created_from else None),
            ("created_to", self.created_to.isoformat() if self.created_to else None),
        ):
            if value is not None:
                params.append((name, str(value)))
        params.extend(("tag", t) for t in self.tag or [])
        return params

    def search_kwargs(self) -> dict[str, Any]:
        """As the arguments of the archive index's `search`."""
        return {
            "q": self.q,
            "status": self.status,
            "tags": self.tag or [],
            "language": self.language,
            "min_success_rate": self.min_success_rate,
            "created_from": self.created_from.isoformat() if self.created_from else None,
            "created_to": self.created_to.isoformat() if self.created_to else None,
            "page": self.page,
            "size": self.size,
        }

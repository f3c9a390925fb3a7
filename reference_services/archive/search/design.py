"""The archive index's design, read from reference_services/schemas/search/ (data, not code).

analysis.json (+ synonyms.txt), mappings.json, query.json and lifecycle.json are the single
source: the archive builds every index version from them and the harness reads the same files.
Index names are versioned behind two aliases:

    <prefix>                 read alias: every live index of the current version
    <prefix>-write           write alias: the one index new records go to
    <prefix>-v<N>-<NNNNNN>   version N (the design it was built from), rollover generation

A design digest (sha256 over the four files) is stored in each index's `_meta`, so
`altlas-archive index status` tells when the live index is behind the files.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DESIGN_DIR = Path(__file__).resolve().parents[2] / "schemas" / "search"
_FILES = ("analysis.json", "synonyms.txt", "mappings.json", "query.json")
_NAME = re.compile(r"^(?P<prefix>.+)-v(?P<version>[1-9][0-9]*)(?:-(?P<generation>[0-9]{6}))?$")


class DesignError(ValueError):
    """A design file is missing or malformed."""


def _json(name: str, folder: Path) -> dict[str, Any]:
    path = folder / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DesignError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DesignError(f"{path}: expected a JSON object")
    data.pop("_comment", None)
    return data


def synonym_rules(text: str) -> list[str]:
    """Solr-format rules from synonyms.txt: one per line; blank lines and # comments skipped."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "," not in line and "=>" not in line:
            raise DesignError(f"synonyms.txt line {number}: {raw!r} is neither 'a, b' nor 'a => b'")
        rules.append(line)
    return rules


@dataclass(frozen=True)
class Design:
    analysis: dict[str, Any]
    mappings: dict[str, Any]
    query: dict[str, Any]
    digest: str

    def settings(self, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
        return {
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "refresh_interval": "1s",
            "analysis": copy.deepcopy(self.analysis),
        }

    def mappings_with_meta(self, version: int) -> dict[str, Any]:
        mappings = copy.deepcopy(self.mappings)
        mappings["_meta"] = {"altlas_design": self.digest, "altlas_version": version}
        return mappings

    def match(self, q: str) -> dict[str, Any]:
        """The free-text clause for `q` (query.json's multi_match)."""
        return {"multi_match": {"query": q, **copy.deepcopy(self.query["multi_match"])}}


def load(folder: Path = DESIGN_DIR) -> Design:
    analysis = _json("analysis.json", folder)
    try:
        synonyms = (folder / "synonyms.txt").read_text(encoding="utf-8")
    except OSError as exc:
        raise DesignError(f"{folder / 'synonyms.txt'}: {exc}") from exc
    for name, spec in analysis.get("filter", {}).items():
        file = spec.pop("synonyms_file", None)
        if file is not None:
            if file != "synonyms.txt":
                raise DesignError(f"analysis.json filter {name}: only synonyms.txt is known")
            spec["synonyms"] = synonym_rules(synonyms)
    query = _json("query.json", folder)
    if "multi_match" not in query or "fields" not in query["multi_match"]:
        raise DesignError(f"{folder / 'query.json'}: expected multi_match.fields")
    mappings = _json("mappings.json", folder)
    digest = hashlib.sha256()
    for name in _FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    return Design(analysis, mappings, query, digest.hexdigest()[:16])


@cache
def current() -> Design:
    return load()


def lifecycle_defaults(folder: Path = DESIGN_DIR) -> dict[str, Any]:
    return _json("lifecycle.json", folder)


@dataclass(frozen=True)
class Names:
    """The index family of one prefix."""

    prefix: str

    @property
    def read(self) -> str:
        return self.prefix

    @property
    def write(self) -> str:
        return f"{self.prefix}-write"

    def template(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def index(self, version: int, generation: int = 1) -> str:
        return f"{self.prefix}-v{version}-{generation:06d}"

    def parse(self, name: str) -> tuple[int, int] | None:
        """(version, generation) of one of our index names; a legacy `-v1` is generation 1."""
        m = _NAME.match(name)
        if m is None or m["prefix"] != self.prefix:
            return None
        return int(m["version"]), int(m["generation"] or 1)

    def next_generation(self, name: str) -> str:
        parsed = self.parse(name)
        if parsed is None:
            raise DesignError(f"{name} is not an index of {self.prefix}")
        version, generation = parsed
        return self.index(version, generation + 1)

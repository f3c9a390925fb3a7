"""End to end through the gateway: commands in Turkish and English reach `archived`, their
documents validate and agree with each other, and the archive finds them with correct facets."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

import pytest

from harness import schemas
from harness.clients.gateway import GatewayClient
from harness.polling import poll_until

TURKISH = [
    "İstanbul'da hava durumunu ara ve sonuçları özetle",
    "Raporu oluştur, ardından ekibe e-posta ile gönder",
    "Dosyayı aç",
    "ISTANBUL trafik verilerini analiz et sonra özet çıkar",
    "Toplantı notlarını İngilizceye çevir",
    "Bütçeyi hesapla ve sonra yöneticiye gönder",
    "Yarın için hatırlatma planla",
    "Müşteri yorumlarını incele, ardından önemli olanları özetle",
    "Eski kayıtları sil",
    "Yeni bir proje klasörü oluştur ve sonra içine şablonu yaz",
]
ENGLISH = [
    "Search the web for Istanbul weather and summarize the results",
    "Create a quarterly report then send it to the finance team",
    "Open the dashboard",
    "Analyze last week's sales and then summarize them",
    "Translate the release notes into Turkish",
    "Calculate the monthly budget and email it to Ayşe",
    "Schedule a meeting for Monday",
    "Find duplicate invoices, then delete them",
    "Write a short poem about the sea",
    # A segment that fails: its dependent is skipped and the command still gets archived.
    "Fetch the sales data simulate_fail then summarize it",
]


def _agree(
    cid: str,
    status: dict[str, Any],
    alt: dict[str, Any],
    last: dict[str, Any],
    atlas: dict[str, Any],
) -> list[str]:
    problems = []
    for kind, doc in (("alt", alt), ("last", last), ("atlas", atlas)):
        problems += [f"{kind} invalid: {e}" for e in schemas.errors(kind, doc)]
    checks = {
        "alt.command_id == command id": alt["command_id"] == cid,
        "last.alt_id == alt.id": last["alt_id"] == alt["id"],
        "last.command_id == command id": last["command_id"] == cid,
        "atlas.last_id == last.id": atlas["last_id"] == last["id"],
        "atlas.alt_id == alt.id": atlas["alt_id"] == alt["id"],
        "atlas.command == alt.command": atlas["command"] == alt["command"],
        "atlas.language == alt.language": atlas["language"] == alt["language"],
        "atlas.success_rate == last.success_rate": atlas["success_rate"] == last["success_rate"],
        "status ids == document ids": (status["alt_id"], status["last_id"], status["atlas_id"])
        == (alt["id"], last["id"], atlas["id"]),
        "one task result per segment": set(last["task_results"])
        == {s["id"] for s in alt["segments"]},
        "tags include every task type": {s["task_type"] for s in alt["segments"]}
        <= set(atlas["tags"]),
    }
    completed = sum(1 for r in last["task_results"].values() if r["status"] == "completed")
    checks["success_rate == completed/total"] = (
        abs(last["success_rate"] - completed / len(alt["segments"])) < 1e-3
    )
    problems += [f"{cid}: expected {name}" for name, ok in checks.items() if not ok]
    return problems


@pytest.fixture(scope="module")
def run_token() -> str:
    # A word no other test uses, so a search returns exactly this run's commands.
    return "e2e" + secrets.token_hex(4)


@pytest.fixture(scope="module")
async def archived(gateway: GatewayClient, run_token: str) -> dict[str, dict[str, Any]]:
    commands = [f"{c} {run_token}" for c in TURKISH + ENGLISH]
    ids = await asyncio.gather(*(gateway.submit_ok(c) for c in commands))
    finals = await asyncio.gather(*(gateway.wait_until_final(i, timeout=90) for i in ids))
    return {
        cid: {"command": c, "status": s} for cid, c, s in zip(ids, commands, finals, strict=True)
    }


async def test_every_command_is_archived(archived: dict[str, dict[str, Any]]) -> None:
    not_archived = {
        cid: v["status"]["status"]
        for cid, v in archived.items()
        if v["status"]["status"] != "archived"
    }
    assert not not_archived, f"expected all 20 commands archived, these were not: {not_archived}"


async def test_documents_validate_and_agree(
    gateway: GatewayClient, archived: dict[str, dict[str, Any]]
) -> None:
    problems: list[str] = []
    languages = Counter()
    for cid, info in archived.items():
        alt, last, atlas = await asyncio.gather(
            *(gateway.document(cid, k) for k in ("alt", "last", "atlas"))
        )
        problems += _agree(cid, info["status"], alt, last, atlas)
        languages[alt["language"]] += 1
        info.update(alt=alt, last=last, atlas=atlas)
    assert not problems, "documents disagree:\n" + "\n".join(problems)
    assert languages == {"tr": 10, "en": 10}, f"expected 10 Turkish and 10 English, got {languages}"


async def test_multi_clause_and_failing_segment(
    gateway: GatewayClient, archived: dict[str, dict[str, Any]]
) -> None:
    docs = {v["command"]: v for v in archived.values()}
    multi = [
        c
        for c, v in docs.items()
        if len((await gateway.document(v["status"]["id"], "alt"))["segments"]) > 1
    ]
    assert len(multi) >= 8, f"expected at least 8 multi-clause commands, got {len(multi)}: {multi}"
    failing = next(v for c, v in docs.items() if "simulate_fail" in c)
    last = await gateway.document(failing["status"]["id"], "last")
    statuses = [r["status"] for r in last["task_results"].values()]
    assert statuses == ["failed", "skipped"], (
        f"expected the failing segment to fail and its dependent to be skipped, got {statuses}"
    )
    assert last["status"] == "failure" and last["success_rate"] == 0.0, last


async def test_search_finds_them_with_facets(
    gateway: GatewayClient, archived: dict[str, dict[str, Any]], run_token: str
) -> None:
    # The index is eventually consistent (refreshed every second): wait for it to catch up.
    async def _all_found() -> dict[str, Any] | None:
        resp = await gateway.search(q=run_token, size=100)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body if {i["command_id"] for i in body["items"]} == set(archived) else None

    body = await poll_until(
        _all_found, 30, f"a search for {run_token} to return all {len(archived)} commands"
    )
    atlases = [await gateway.document(cid, "atlas") for cid in archived]
    expected_tags = Counter(t for a in atlases for t in a["tags"])
    assert body["facets"]["language"] == {"tr": 10, "en": 10}, body["facets"]
    assert body["facets"]["status"] == {"active": 20}, body["facets"]
    assert body["facets"]["tags"] == dict(expected_tags), (
        f"tag facets {body['facets']['tags']} != counts from the records {dict(expected_tags)}"
    )
    only_en = (await gateway.search(q=run_token, language="en", size=100)).json()
    assert only_en["total"] == 10, f"language=en filter expected 10, got {only_en['total']}"


async def test_turkish_casing_in_search(
    gateway: GatewayClient, archived: dict[str, dict[str, Any]], run_token: str
) -> None:
    body = (await gateway.search(q=f"istanbul {run_token}", size=100)).json()
    commands = sorted(item["command"] for item in body["items"])
    assert any("İstanbul" in c for c in commands) and any("ISTANBUL" in c for c in commands), (
        f"a search for 'istanbul' should find İstanbul and ISTANBUL, found {commands}"
    )

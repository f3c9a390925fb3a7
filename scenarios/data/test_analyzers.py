"""The archive index's text analysis, case by case, through the deployment's own `_analyze`.

Each case names a role of the `command` field — how it is indexed (`index`), how a query on it
is analyzed (`search`), and its Turkish (`tr`) and English (`en`) stemmed sub-fields — and the
tokens expected. The analyzers are the ones the deployment's write index maps to that role, so
the table judges any deployment's analysis, not our analyzer names. Search roles compare token
sets (synonyms stack at one position); the others compare the token sequence.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scenarios.data.conftest import IndexFamily

CASES: list[tuple[str, str, list[str]]] = [
    # Dotted and dotless i: every spelling of a city meets the folded form.
    ("index", "İstanbul", ["istanbul"]),
    ("index", "ISTANBUL", ["istanbul"]),
    ("index", "istanbul", ["istanbul"]),
    ("index", "ISPARTA", ["isparta"]),
    ("index", "ıspanak", ["ispanak"]),
    ("index", "DİYARBAKIR", ["diyarbakir"]),
    ("index", "ÇİÇEK", ["cicek"]),
    # Apostrophe suffixes, straight and typographic.
    ("index", "İstanbul'da", ["istanbul"]),
    ("index", "Ankara’ya", ["ankara"]),
    ("index", "Çanakkale’de", ["canakkale"]),
    ("index", "Iğdır'a", ["igdir"]),
    # ş ğ ç ö ü folding.
    ("index", "ŞEHİR", ["sehir"]),
    ("index", "öğrenci", ["ogrenci"]),
    ("index", "Güneş", ["gunes"]),
    ("index", "Üsküdar", ["uskudar"]),
    ("index", "2026 bütçe", ["2026", "butce"]),
    ("index", "raporları", ["raporlari"]),
    ("index", "hava durumunu ara", ["hava", "durumunu", "ara"]),
    ("index", "Send the REPORT", ["send", "the", "report"]),
    ("index", "e-posta", ["e", "posta"]),
    # Synonyms, both ways, after folding.
    ("search", "rapor", ["rapor", "report"]),
    ("search", "report", ["report", "rapor"]),
    ("search", "özet", ["ozet", "summary"]),
    ("search", "summary", ["summary", "ozet"]),
    ("search", "eposta", ["eposta", "email", "mail", "e", "posta"]),
    ("search", "mail", ["mail", "email", "eposta", "e", "posta"]),
    ("search", "hava", ["hava", "weather"]),
    ("search", "weather", ["weather", "hava"]),
    ("search", "dosya", ["dosya", "file"]),
    ("search", "arama", ["arama", "search"]),
    ("search", "İSTANBUL'da", ["istanbul"]),
    # Turkish stemming, stop words, and folding after the stem.
    ("tr", "raporları", ["rapor"]),
    ("tr", "kitaplarımızdan", ["kitap"]),
    ("tr", "çalışmalar", ["calisma"]),
    ("tr", "dosyaları", ["dosya"]),
    ("tr", "şehirler", ["sehir"]),
    ("tr", "raporu özetle", ["rapor", "ozet"]),
    ("tr", "ve ile bir için bu", []),
    ("tr", "İstanbul'da", ["istanbul"]),
    ("tr", "diyarbakir raporları", ["diyarbakir", "rapor"]),
    ("tr", "Diyarbakır'ın raporları", ["diyarbakir", "rapor"]),
    # English stemming, possessives, stop words; Turkish letters in English text fold too.
    ("en", "running reports", ["run", "report"]),
    ("en", "files", ["file"]),
    ("en", "translated emails", ["translat", "email"]),
    ("en", "the weather's summary", ["weather", "summari"]),
    ("en", "John's files", ["john", "file"]),
    ("en", "searches", ["search"]),
    ("en", "the and of a", []),
    ("en", "weather in İzmir", ["weather", "izmir"]),
]


def _roles(mapping: dict[str, Any]) -> dict[str, str]:
    command = mapping["properties"]["command"]
    fields = command.get("fields", {})
    roles = {
        "index": command.get("analyzer", "standard"),
        "search": command.get("search_analyzer", command.get("analyzer", "standard")),
    }
    for sub in ("tr", "en"):
        if sub in fields:
            roles[sub] = fields[sub].get("analyzer", "standard")
    return roles


@pytest.fixture
async def roles(opensearch: httpx.AsyncClient, index_family: IndexFamily) -> dict[str, str]:
    resp = await opensearch.get(f"/{index_family.write_index}/_mapping")
    resp.raise_for_status()
    return _roles(resp.json()[index_family.write_index]["mappings"])


async def test_the_analysis_table_holds(
    opensearch: httpx.AsyncClient, index_family: IndexFamily, roles: dict[str, str]
) -> None:
    assert len(CASES) >= 40
    wrong = []
    for role, text, expected in CASES:
        if role not in roles:
            wrong.append(f"{role}: the write index's `command` field has no such analysis")
            continue
        resp = await opensearch.post(
            f"/{index_family.write_index}/_analyze", json={"analyzer": roles[role], "text": text}
        )
        assert resp.status_code == 200, f"_analyze with {roles[role]} failed: {resp.text}"
        tokens = [t["token"] for t in resp.json()["tokens"]]
        same = set(tokens) == set(expected) if role == "search" else tokens == expected
        if not same:
            wrong.append(f"{role} ({roles[role]}) {text!r}: expected {expected}, got {tokens}")
    assert not wrong, (
        f"{len(wrong)} of {len(CASES)} analysis cases differ on {index_family.write_index}:\n"
        + "\n".join(wrong)
    )

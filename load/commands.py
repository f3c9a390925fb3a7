"""Commands users type, in Turkish and English, short to long; search terms for the archive.

Clauses are joined with the connectors the segmenter splits on, so a long command becomes
many tasks; sizes follow a long-tailed mix (most commands are one to three clauses).
"""

from __future__ import annotations

import random

from harness.workload.search_mix import SEARCH_TERMS, TAGS, search_params

TR_CLAUSES = (
    "İstanbul hava durumunu ara",
    "sonuçları özetle",
    "Ankara'daki toplantı notlarını analiz et",
    "raporu PDF olarak kaydet",
    "ekibe e-posta gönder",
    "Çarşamba günkü satış verilerini karşılaştır",
    "müşteri şikâyetlerini sınıflandır",
    "İzmir şubesinin gider tablosunu hesapla",
    "öğleden sonraki görüşmeleri listele",
    "ağ günlüklerinde hataları tara",
    "şu dosyayı ı, ğ, ü, ş, ö, ç harfleriyle yeniden adlandır",
    "haftalık özeti oluştur",
)
TR_CONNECTORS = (" ve ", " sonra ", ", ardından ", " ve sonra ")
EN_CLAUSES = (
    "search the weather in Istanbul",
    "summarise the results",
    "analyse the meeting notes from Ankara",
    "save the report as a PDF",
    "email the team",
    "compare Wednesday's sales figures",
    "classify the customer complaints",
    "calculate the Izmir branch's expenses",
    "list this afternoon's calls",
    "scan the network logs for errors",
    "create the weekly digest",
)
EN_CONNECTORS = (" and ", " then ", ", and then ", " after that ")
# Clauses per command, weighted: mostly short, a long tail up to a dozen tasks.
SIZES = (1, 2, 3, 4, 6, 8, 12)
SIZE_WEIGHTS = (30, 30, 18, 10, 6, 4, 2)
# The search mix lives in the harness (harness/workload/search_mix.py): `make bench-data`
# measures the archive's search latency with the same queries Locust sends.


def command(rng: random.Random, language: str | None = None) -> tuple[str, str]:
    """(text, language): Turkish two times out of three unless `language` is given."""
    lang = language or rng.choices(("tr", "en"), weights=(2, 1))[0]
    clauses, connectors = (
        (TR_CLAUSES, TR_CONNECTORS) if lang == "tr" else (EN_CLAUSES, EN_CONNECTORS)
    )
    n = rng.choices(SIZES, weights=SIZE_WEIGHTS)[0]
    parts = [rng.choice(clauses) for _ in range(n)]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(connectors) + part
    return text, lang


__all__ = ["SEARCH_TERMS", "TAGS", "command", "search_params"]

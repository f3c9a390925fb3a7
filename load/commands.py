"""Commands users type, in Turkish and English, short to long; search terms for the archive.

Clauses are joined with the connectors the segmenter splits on, so a long command becomes
many tasks; sizes follow a long-tailed mix (most commands are one to three clauses).
"""

from __future__ import annotations

import random

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
SEARCH_TERMS = (
    "istanbul",
    "İstanbul",
    "hava",
    "rapor",
    "özet",
    "ozet",
    "weather",
    "report",
    "sales",
    "şikâyet",
    "ankara",
    "email",
)
TAGS = ("search", "analyze", "summarize", "save", "notify", "success:high", "success:low")


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


def search_params(rng: random.Random) -> dict[str, str | list[str]]:
    """A realistic search: a term, often a filter or two, sometimes a second page."""
    params: dict[str, str | list[str]] = {"q": rng.choice(SEARCH_TERMS)}
    if rng.random() < 0.4:
        params["language"] = rng.choice(("tr", "en"))
    if rng.random() < 0.3:
        params["tag"] = [rng.choice(TAGS)]
    if rng.random() < 0.2:
        params["min_success_rate"] = rng.choice(("0.5", "0.7", "0.9"))
    if rng.random() < 0.15:
        params["page"] = "2"
    params["size"] = rng.choice(("10", "20"))
    return params

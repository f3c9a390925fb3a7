"""A fixed, generated corpus of ATLAS records and a judged query set, for relevance.

Every record is made from attributes — an intent (weather, report, email, file, translate,
search, summary), a city or none, a language — rendered through Turkish and English templates
with the spellings users type (İstanbul'da, ISTANBUL, istanbul, İzmir’deki). A query is judged
against those attributes, never against what an engine returns: a record is relevant to a query
(grade 2) when it has the query's intent and, if the query names a city, that city; a record of
the right intent in another city is not relevant (grade 0).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SEED = 20261201
SIZE = 560

# City: (nominative, locative form, genitive form, upper case).
CITIES = {
    "istanbul": ("İstanbul", "İstanbul'da", "İstanbul'un", "İSTANBUL"),
    "ankara": ("Ankara", "Ankara'da", "Ankara'nın", "ANKARA"),
    "izmir": ("İzmir", "İzmir’de", "İzmir'in", "İZMİR"),
    "bursa": ("Bursa", "Bursa'da", "Bursa'nın", "BURSA"),
    "antalya": ("Antalya", "Antalya'da", "Antalya'nın", "ANTALYA"),
    "isparta": ("Isparta", "Isparta'da", "Isparta'nın", "ISPARTA"),
    "eskisehir": ("Eskişehir", "Eskişehir'de", "Eskişehir'in", "ESKİŞEHİR"),
    "diyarbakir": ("Diyarbakır", "Diyarbakır'da", "Diyarbakır'ın", "DİYARBAKIR"),
}

# Intent → topic → templates per language; {c} nominative, {loc} locative, {gen} genitive,
# {up} upper case. A topic is what the user asked for, the same in both languages.
TEMPLATES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "weather": {
        "weather-now": {
            "tr": ("{loc} hava durumunu ara", "{gen} hava durumu"),
            "en": ("check the weather in {c}",),
        },
        "forecast": {
            "tr": ("{up} için hava tahmini getir",),
            "en": ("get the weather forecast for {c}",),
        },
    },
    "report": {
        "sales-report": {
            "tr": ("{c} satış raporunu hazırla",),
            "en": ("prepare the sales report for {c}",),
        },
        "monthly-reports": {
            "tr": ("{gen} aylık raporlarını topla",),
            "en": ("collect the monthly reports of {c}",),
        },
    },
    "email": {
        "email-office": {
            "tr": ("{c} ofisine e-posta gönder",),
            "en": ("send an email to the {c} office",),
        },
        "email-team": {
            "tr": ("{loc} ekibe eposta yaz",),
            "en": ("write a mail to the team in {c}",),
        },
    },
    "file": {
        "archive-files": {
            "tr": ("{gen} dosyalarını arşivle",),
            "en": ("archive the files of {c}",),
        },
        "upload-file": {"tr": ("{c} dosyası yükle",), "en": ("upload the {c} file",)},
    },
    "translate": {
        "contract": {
            "tr": ("{c} sözleşmesini İngilizceye çevir",),
            "en": ("translate the {c} contract into Turkish",),
        },
        "brochure": {"tr": ("{gen} broşürünü çevir",), "en": ("translate the brochure of {c}",)},
    },
    "summary": {
        "meeting-notes": {
            "tr": ("{loc} toplantı notlarını özetle",),
            "en": ("summarize the meeting notes from {c}",),
        },
        "call-summary": {
            "tr": ("{c} görüşmesinin özetini çıkar",),
            "en": ("write a summary of the {c} call",),
        },
    },
    "search": {
        "hotels": {"tr": ("{loc} otel araması yap",), "en": ("search hotels in {c}",)},
        "restaurants": {
            "tr": ("{c} restoranlarını ara",),
            "en": ("run a search for restaurants in {c}",),
        },
    },
}
# Without a city, the same intents in general phrasing (topic "general").
GENERAL: dict[str, dict[str, tuple[str, ...]]] = {
    "weather": {"tr": ("yarın için hava durumunu ara",), "en": ("what is the weather tomorrow",)},
    "report": {"tr": ("haftalık raporu hazırla",), "en": ("prepare the weekly report",)},
    "email": {"tr": ("müşteriye e-posta gönder",), "en": ("send an email to the customer",)},
    "file": {"tr": ("eski dosyaları sil",), "en": ("delete the old files",)},
    "translate": {"tr": ("belgeyi Almancaya çevir",), "en": ("translate the letter to German",)},
    "summary": {"tr": ("makaleyi özetle",), "en": ("summarize the article",)},
    "search": {"tr": ("uçuş araması yap",), "en": ("search for cheap flights",)},
}


@dataclass(frozen=True)
class Record:
    intent: str
    topic: str
    city: str | None
    language: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class Query:
    """A query and what it asks for: an intent, optionally one topic of it and one city."""

    text: str
    intent: str
    city: str | None
    topic: str | None = None

    def grade(self, record: Record) -> int:
        """2: what was asked for; 1: the same intent and city, another topic; 0: neither."""
        if record.intent != self.intent:
            return 0
        if self.city is not None and record.city != self.city:
            return 0
        return 2 if self.topic is None or record.topic == self.topic else 1


def _doc(rng: random.Random, number: int, command: str, language: str) -> dict[str, Any]:
    created = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=number * 7)
    stamp = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    segments = rng.randint(1, 3)
    noun = "segment" if segments == 1 else "segments"
    return {
        "schema_version": "1.0",
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "last_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "alt_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "command_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "command": command,
        "language": language,
        "success_rate": 1.0,
        "status": "active",
        "tags": ["success:high"],
        "summary": f'"{command}" ran as {segments} {noun}: success, 100.0% completed.',
        "created_at": stamp,
        "updated_at": stamp,
    }


def records(size: int = SIZE, seed: int = SEED) -> list[Record]:
    rng = random.Random(seed)
    out = []
    intents = sorted(TEMPLATES)
    for number in range(size):
        intent = intents[number % len(intents)]
        language = "tr" if rng.random() < 0.6 else "en"
        city = None if rng.random() < 0.15 else rng.choice(sorted(CITIES))
        if city is None:
            topic, command = "general", rng.choice(GENERAL[intent][language])
        else:
            c, loc, gen, up = CITIES[city]
            topic = rng.choice(sorted(TEMPLATES[intent]))
            template = rng.choice(TEMPLATES[intent][topic][language])
            command = template.format(c=rng.choice((c, c, up, c.lower())), loc=loc, gen=gen, up=up)
        out.append(Record(intent, topic, city, language, _doc(rng, number, command, language)))
    return out


# 32 judged queries: Turkish and English, folded and cased spellings, suffixes, synonyms in
# both directions (rapor/report, özet/summary, eposta/email, hava/weather, dosya/file).
QUERIES = (
    Query("istanbul hava", "weather", "istanbul"),
    Query("ANKARA'da hava durumu", "weather", "ankara", "weather-now"),
    Query("weather ankara", "weather", "ankara"),
    Query("izmir weather forecast", "weather", "izmir", "forecast"),
    Query("hava tahmini bursa", "weather", "bursa", "forecast"),
    Query("ıSPARTA hava", "weather", "isparta"),
    Query("eskisehir hava", "weather", "eskisehir"),
    Query("ISPARTA rapor", "report", "isparta"),
    Query("report bursa", "report", "bursa"),
    Query("sales report izmir", "report", "izmir", "sales-report"),
    Query("diyarbakir raporları", "report", "diyarbakir"),
    Query("izmir eposta", "email", "izmir"),
    Query("email istanbul", "email", "istanbul"),
    Query("e-posta antalya", "email", "antalya"),
    Query("mail bursa", "email", "bursa"),
    Query("dosya ankara", "file", "ankara"),
    Query("files isparta", "file", "isparta"),
    Query("eskişehir dosyaları", "file", "eskisehir"),
    Query("translate izmir", "translate", "izmir"),
    Query("çevir diyarbakır", "translate", "diyarbakir"),
    Query("istanbul sözleşmesini çevir", "translate", "istanbul", "contract"),
    Query("özet bursa", "summary", "bursa"),
    Query("summarize bursa meeting", "summary", "bursa", "meeting-notes"),
    Query("toplantı notları ankara", "summary", "ankara", "meeting-notes"),
    Query("summary izmir", "summary", "izmir"),
    Query("İSTANBUL'da otel", "search", "istanbul", "hotels"),
    Query("search hotels diyarbakir", "search", "diyarbakir", "hotels"),
    Query("restoranlarını ara antalya", "search", "antalya", "restaurants"),
    Query("hava durumu", "weather", None),
    Query("rapor", "report", None),
    Query("özetle", "summary", None),
    Query("çevir", "translate", None),
)

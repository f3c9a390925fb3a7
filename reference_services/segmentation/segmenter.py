"""Turn a natural-language command (Turkish or English) into ordered task segments.

Pure decision logic: no I/O, no clock, no randomness, so the same input always yields the same
segments and a redelivered command produces an identical ALT document.

Pipeline: tokenize (quoted strings and URLs are atomic tokens, so nothing inside them splits) →
mark connectives and sentence breaks → group the remaining tokens into clauses → describe each
clause (task type, parameters, dependency on its predecessor, priority).

Keyword matching uses a casing-convention-independent key (see `_key`): users type Turkish in
caps ("ARDINDAN"), without diacritics ("hatirlat") or mix English words into Turkish commands,
and a keyword must match in every one of those cases.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "MAX_SEGMENTS",
    "TASK_KEYWORDS",
    "SegmentationResult",
    "detect_language",
    "segment",
    "tr_lower",
]

Language = Literal["tr", "en"]

MAX_SEGMENTS: Final = 50
SIMULATE_MS_MAX: Final = 10_000
DEFAULT_PRIORITY: Final = 3
HIGH_PRIORITY: Final = 5
LOW_PRIORITY: Final = 1

# Per language, task type → keyword stems. A stem matches a word that starts with it (Turkish is
# agglutinative: "özetle" must match "özetleyip", "aç" must match "açar mısın"). Multi-word stems
# match word by word. Dict order is the tie-break when one word matches several types.
TASK_KEYWORDS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "tr": {
        "search": ("ara", "bul"),
        "open": ("aç", "başlat"),
        "create": ("oluştur", "yarat", "yaz"),
        "analyze": ("analiz", "incele"),
        "summarize": ("özetle", "özet"),
        "send": ("gönder", "yolla"),
        "delete": ("sil", "kaldır"),
        "translate": ("çevir", "tercüme"),
        "schedule": ("planla", "zamanla", "hatırlat"),
        "compute": ("hesapla",),
    },
    "en": {
        "search": ("search", "find", "look up"),
        "open": ("open", "launch"),
        "create": ("create", "make", "write", "new"),
        "analyze": ("analyze", "analyse", "examine", "inspect"),
        "summarize": ("summarize", "summarise", "summary"),
        "send": ("send", "email", "mail", "share"),
        "delete": ("delete", "remove"),
        "translate": ("translate",),
        "schedule": ("schedule", "remind"),
        "compute": ("compute", "calculate"),
    },
}
GENERAL_TASK: Final = "general"

# Connectives of both languages split in every command: the detected language of a short or
# mixed command is only a guess, and a missed split loses a task while a Turkish "ve" inside an
# English sentence is vanishingly rare. True = sequential (the next clause waits for this one).
_CONNECTIVE_PHRASES: Final[Mapping[str, bool]] = {
    # Turkish
    "ve": False,
    "ayrıca": False,
    "sonra": True,
    "ardından": True,
    "daha sonra": True,
    "ve sonra": True,
    "ve daha sonra": True,
    "ve ardından": True,
    "ondan sonra": True,
    "bundan sonra": True,
    "sonrasında": True,
    "son olarak": True,
    # English
    "and": False,
    "also": False,
    "then": True,
    "and then": True,
    "after that": True,
    "afterwards": True,
    "afterward": True,
    "finally": True,
}

# "sonra bir ara" means "some time later" (a priority hint), not "then": splitting at its
# "sonra" would cut "Bunu sonra bir ara yap" into a meaningless "Bunu" plus the real task.
_NON_CONNECTIVE_PHRASES: Final = ("sonra bir ara",)

# A bare "sonra" after an ablative noun is a postposition ("toplantıdan sonra hatırlat" = remind
# me after the meeting), one task. After a verbal "-dıktan" form it is sequential again
# ("dosyayı açtıktan sonra özetle"), so those suffixes are excluded. Keys are folded (ı → i).
_ABLATIVE_SUFFIXES: Final = ("dan", "den", "tan", "ten")
_VERBAL_ABLATIVE_SUFFIXES: Final = (
    "diktan",
    "dikten",
    "duktan",
    "dükten",
    "tiktan",
    "tikten",
    "tuktan",
    "tükten",
)

_BACK_REFERENCES: Final = (
    # English
    "it",
    "them",
    "the result",
    "the results",
    "the output",
    "the outputs",
    # Turkish
    "onu",
    "bunu",
    "şunu",
    "onları",
    "bunları",
    "sonucu",
    "sonucunu",
    "sonuçları",
    "sonuçlarını",
    "çıktıyı",
    "çıktısını",
)
_URGENT_PHRASES: Final = (
    "urgent",
    "urgently",
    "important",
    "asap",
    "immediately",
    "high priority",
    "acil",
    "acilen",
    "önemli",
    "hemen",
    "yüksek öncelik",
    "yüksek öncelikli",
)
# Checked before the urgent phrases so that "not urgent" / "acil değil" reads as low.
_LOW_PHRASES: Final = (
    "later",
    "low priority",
    "not urgent",
    "not important",
    "sonra bir ara",
    "düşük öncelik",
    "düşük öncelikli",
    "acil değil",
    "önemli değil",
)

_TR_LETTERS: Final = frozenset("çğıöşüÇĞİÖŞÜ")
_TR_WORDS: Final = frozenset(
    """ve veya sonra ardından daha ayrıca ondan bundan bir bu şu o için ile ki de da mi ne gibi
    kadar çok en bana beni benim bize lütfen şimdi hemen acil önemli yarın bugün sonucu sonuçları
    onu bunu dosya dosyayı dosyası rapor raporu hava durumu durumunu aç ara bul oluştur yarat yaz
    analiz et incele özetle özet gönder yolla sil kaldır çevir tercüme planla zamanla hatırlat
    hesapla başlat yap göster listele kontrol bak al ver getir kaydet indir yükle oku""".split()
)
_TR_SUFFIXES: Final = ("yı", "yi", "yu", "yü", "ları", "leri", "ını", "ini", "unu", "ünü")
_EN_WORDS: Final = frozenset(
    """the a an and or then to of in on for with from by at as is are be it its them this that
    these those my me i you your please after also finally afterwards all about into up what how
    open search find create make write new analyze summarize send email delete remove translate
    schedule remind compute calculate weather file files report result results launch look share
    show list get check read download today tomorrow now urgent later""".split()
)
# Suffixes after an apostrophe that are English contractions, not Turkish case endings.
_EN_CONTRACTIONS: Final = frozenset({"s", "t", "ve", "ll", "re", "d", "m"})

_WORD_CHAR_RE: Final = re.compile(r"\w")
# An apostrophe between letters stays inside the word: "İstanbul'da" and "don't" are one word,
# so neither opens a quotation nor leaves "da"/"t" to be misread as a word of its own.
_WORD_RE: Final = re.compile(r"\w+(?:['’]\w+)*")
_URL_RE: Final = re.compile(r"(?:(?:https?|ftp)://|www\.)[^\s\"'<>“”‘’]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?)]}"
_QUOTE_CLOSERS: Final[Mapping[str, str]] = {'"': '"', "“": "”", "'": "'", "‘": "’"}
# Single-quote style closers double as apostrophes, so they close only at a word end.
_APOSTROPHE_LIKE: Final = frozenset("'’")
_LINE_BREAKS: Final = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
_HARD_BREAKS: Final = frozenset(";!?")

_SIMULATE_FAIL_RE: Final = re.compile(r"(?<!\w)simulate_fail(?!\w)|\[\s*fail\s*\]", re.IGNORECASE)
_SIMULATE_MS_RE: Final = re.compile(
    r"(?<!\w)simulate_ms\s*[=:]\s*([0-9]+)|\[\s*sleep\s+([0-9]+)\s*(?:ms)?\s*\]", re.IGNORECASE
)
# Only "." is a decimal separator: "3,5" stays two numbers because a comma also lists things.
_NUMBER_RE: Final = re.compile(r"(?<![\w.])[0-9]+(?:\.[0-9]+)?(?!\w|\.[0-9])")
# Longer digit runs are ids or noise, and int() refuses more than 4300 digits anyway.
_MAX_NUMBER_CHARS: Final = 30


@dataclass(frozen=True)
class SegmentationResult:
    """The resolved language and the JSON-ready segments, in command order."""

    language: str
    segments: list[dict[str, Any]]


def tr_lower(text: str) -> str:
    """Lowercase with Turkish rules: İ → i and I → ı (str.lower would give i̇ and i)."""
    return text.replace("İ", "i").replace("I", "ı").lower()


def _key(word: str) -> str:
    """Matching key of a word, the same whichever casing convention the user typed with.

    tr_lower handles Turkish capitals; merging ı into i then makes "FILE" (tr_lower: "fıle"),
    "hatirlat" typed without diacritics and "HATIRLAT" all meet their keyword. The cost, words
    differing only in i/ı colliding, does not occur among the keywords.
    """
    return tr_lower(word).casefold().replace("ı", "i").replace("\u0307", "")


def _phrase_keys(phrases: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    # Longest first, so that "and then" wins over "and" at the same position.
    keyed = {tuple(_key(w) for w in p.split()) for p in phrases}
    return tuple(sorted(keyed, key=lambda p: (-len(p), p)))


_CONNECTIVES: Final = {
    tuple(_key(w) for w in p.split()): seq for p, seq in _CONNECTIVE_PHRASES.items()
}
_CONNECTIVE_KEYS: Final = _phrase_keys(_CONNECTIVE_PHRASES)
_NON_CONNECTIVE_KEYS: Final = _phrase_keys(_NON_CONNECTIVE_PHRASES)
_BACK_REFERENCE_KEYS: Final = _phrase_keys(_BACK_REFERENCES)
_URGENT_KEYS: Final = _phrase_keys(_URGENT_PHRASES)
_LOW_KEYS: Final = _phrase_keys(_LOW_PHRASES)
_TASK_KEYS: Final[Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    lang: tuple(
        (task, tuple(_key(w) for w in stem.split()))
        for task, stems in table.items()
        for stem in stems
    )
    for lang, table in TASK_KEYWORDS.items()
}
# First words of all stems per language: one C-level startswith rejects most words outright.
_TASK_FIRST_PARTS: Final = {
    lang: tuple(sorted({stem[0] for _, stem in entries})) for lang, entries in _TASK_KEYS.items()
}
_TR_WORD_KEYS: Final = frozenset(_key(w) for w in _TR_WORDS)
_TR_SUFFIX_KEYS: Final = tuple(_key(s) for s in _TR_SUFFIXES)
_EN_WORD_KEYS: Final = frozenset(_key(w) for w in _EN_WORDS)


def detect_language(text: str) -> Language:
    """Guess "tr" or "en" from Turkish letters, Turkish words and suffixes vs English words.

    A word with a Turkish-only letter weighs double: it is the strongest single signal. Ties,
    including empty text, go to "en".
    """
    tr_score = 0
    en_score = 0
    for match in _WORD_RE.finditer(text):
        word = match.group()
        key = _key(word)
        if _TR_LETTERS.intersection(word):
            tr_score += 2
        elif key in _TR_WORD_KEYS or _has_turkish_suffix(key):
            tr_score += 1
        if key in _EN_WORD_KEYS:
            en_score += 1
    return "tr" if tr_score > en_score else "en"


def _has_turkish_suffix(key: str) -> bool:
    parts = re.split(r"['’]", key, maxsplit=1)
    if len(parts) == 2:
        return parts[1] not in _EN_CONTRACTIONS
    return len(key) >= 4 and key.endswith(_TR_SUFFIX_KEYS)


# --- tokenizing -------------------------------------------------------------------------------

TokenKind = Literal["word", "quote", "url", "space", "break", "comma", "other"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    start: int
    end: int


def _is_word_char(ch: str) -> bool:
    return _WORD_CHAR_RE.match(ch) is not None


def _quote_closer_positions(text: str) -> dict[str, list[int]]:
    """Sorted candidate closing positions per closer character.

    Precomputed so that many unmatched openers cost a bisect each instead of a rescan of a
    4000-character command.
    """
    positions: dict[str, list[int]] = {closer: [] for closer in set(_QUOTE_CLOSERS.values())}
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch not in positions:
            continue
        if ch in _APOSTROPHE_LIKE and i < last and _is_word_char(text[i + 1]):
            continue  # an apostrophe inside a word ("Ali'nin"), not a closing quote
        positions[ch].append(i)
    return positions


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    closers = _quote_closer_positions(text)
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        after_word = i > 0 and _is_word_char(text[i - 1])
        if ch in _QUOTE_CLOSERS and not (ch in "'‘" and after_word):
            candidates = closers[_QUOTE_CLOSERS[ch]]
            k = bisect_right(candidates, i)
            if k < len(candidates):
                close = candidates[k]
                tokens.append(_Token("quote", i, close + 1))
                i = close + 1
                continue
        if not after_word and ch in "hHfFwW":
            url = _URL_RE.match(text, i)
            if url is not None:
                end = url.end()
                while end > i and text[end - 1] in _URL_TRAILING:
                    end -= 1
                if end > i:
                    tokens.append(_Token("url", i, end))
                    i = end
                    continue
        if ch in _LINE_BREAKS or ch in _HARD_BREAKS:
            tokens.append(_Token("break", i, i + 1))
            i += 1
        elif ch == ".":
            # A full stop ends a clause only before whitespace or the end: "3.5", "rapor.pdf"
            # and "example.com" stay whole.
            ends_clause = i + 1 == n or text[i + 1].isspace()
            tokens.append(_Token("break" if ends_clause else "other", i, i + 1))
            i += 1
        elif ch.isspace():
            j = i + 1
            while j < n and text[j].isspace() and text[j] not in _LINE_BREAKS:
                j += 1
            tokens.append(_Token("space", i, j))
            i = j
        elif ch == ",":
            tokens.append(_Token("comma", i, i + 1))
            i += 1
        else:
            word = _WORD_RE.match(text, i)
            if word is not None:
                tokens.append(_Token("word", i, word.end()))
                i = word.end()
            else:
                tokens.append(_Token("other", i, i + 1))
                i += 1
    return tokens


# --- clause splitting -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clause:
    first: int  # index of its first token
    last: int  # index of its last token (inclusive)
    lead: tuple[tuple[str, ...], ...]  # connective phrases between it and the previous clause


def _phrase_end(
    tokens: Sequence[_Token], keys: Mapping[int, str], i: int, phrase: tuple[str, ...]
) -> int | None:
    """Token index just past `phrase` if its words start at token i, separated by plain spaces."""
    j = i
    for n, word in enumerate(phrase):
        if n:
            if j + 1 >= len(tokens) or tokens[j].kind != "space":
                return None
            j += 1
        if j >= len(tokens) or keys.get(j) != word:
            return None
        j += 1
    return j


def _is_postposition(tokens: Sequence[_Token], keys: Mapping[int, str], i: int) -> bool:
    """Whether the bare "sonra" at token i follows an ablative noun (see _ABLATIVE_SUFFIXES)."""
    if i < 2 or tokens[i - 1].kind != "space" or (i - 2) not in keys:
        return False
    before = keys[i - 2]
    return before.endswith(_ABLATIVE_SUFFIXES) and not before.endswith(_VERBAL_ABLATIVE_SUFFIXES)


def _find_connectives(
    tokens: Sequence[_Token], keys: Mapping[int, str]
) -> dict[int, tuple[tuple[str, ...], int]]:
    """Connective phrases by start token index: (phrase, index just past it)."""
    found: dict[int, tuple[tuple[str, ...], int]] = {}
    sonra = (_key("sonra"),)
    i = 0
    while i < len(tokens):
        if i not in keys:
            i += 1
            continue
        blocked = next(
            (e for p in _NON_CONNECTIVE_KEYS if (e := _phrase_end(tokens, keys, i, p))), None
        )
        if blocked is not None:
            i = blocked
            continue
        for phrase in _CONNECTIVE_KEYS:
            end = _phrase_end(tokens, keys, i, phrase)
            if end is None:
                continue
            if phrase == sonra and _is_postposition(tokens, keys, i):
                break
            found[i] = (phrase, end)
            i = end - 1
            break
        i += 1
    return found


def _split_clauses(tokens: Sequence[_Token], keys: Mapping[int, str]) -> list[_Clause]:
    connectives = _find_connectives(tokens, keys)
    separator = [tok.kind == "break" for tok in tokens]
    for start, (_, end) in connectives.items():
        for j in range(start, end):
            separator[j] = True
    for j, tok in enumerate(tokens):
        if tok.kind == "comma":
            # A comma separates only when a connective follows it ("X, ardından Y"); "X, Y"
            # is often one task with a list in it ("elma, armut ve muz").
            k = j + 1
            while k < len(tokens) and tokens[k].kind == "space":
                k += 1
            separator[j] = k in connectives

    raw: list[_Clause] = []
    lead: list[tuple[str, ...]] = []
    first: int | None = None
    last = -1
    for j, tok in enumerate(tokens):
        if separator[j]:
            if first is not None:
                raw.append(_Clause(first, last, tuple(lead)))
                lead = []
                first = None
            if j in connectives:
                lead.append(connectives[j][0])
            continue
        if tok.kind in ("space", "comma") and first is None:
            continue  # leading filler of a clause
        if first is None:
            first = j
        if tok.kind not in ("space", "comma"):
            last = j  # trailing spaces and commas are trimmed off
    if first is not None:
        raw.append(_Clause(first, last, tuple(lead)))

    clauses: list[_Clause] = []
    carried: tuple[tuple[str, ...], ...] = ()
    for clause in raw:
        substantive = any(
            tokens[j].kind in ("word", "quote", "url") for j in range(clause.first, clause.last + 1)
        )
        if substantive:
            clauses.append(_Clause(clause.first, clause.last, carried + clause.lead))
            carried = ()
        else:
            # Punctuation debris ("X, - then Y"): drop it but keep its connectives, so the next
            # clause still knows it was introduced sequentially.
            carried += clause.lead
    return clauses


# --- describing a clause ----------------------------------------------------------------------


def _covered(words: Sequence[str], phrases: Iterable[tuple[str, ...]]) -> set[int]:
    covered: set[int] = set()
    for phrase in phrases:
        size = len(phrase)
        for i in range(len(words) - size + 1):
            if tuple(words[i : i + size]) == phrase:
                covered.update(range(i, i + size))
    return covered


def _priority(words: Sequence[str]) -> tuple[int, set[int]]:
    """Priority of a clause and the word indices that only expressed it."""
    low = _covered(words, _LOW_KEYS)
    urgent = _covered(words, _URGENT_KEYS) - low
    if urgent:
        return HIGH_PRIORITY, low | urgent
    return (LOW_PRIORITY if low else DEFAULT_PRIORITY), low


def _task_type(words: Sequence[str], language: str) -> str:
    """First word (in clause order) that starts with a keyword stem; own language first.

    The other language's table is a fallback only: English stems are short prefixes of unrelated
    Turkish words and vice versa ("sil" → "silently"), so they must not outrank a real match.
    """
    other = "en" if language == "tr" else "tr"
    for lang in (language, other):
        first_parts = _TASK_FIRST_PARTS[lang]
        for i in range(len(words)):
            if not words[i].startswith(first_parts):
                continue
            for task, stem in _TASK_KEYS[lang]:
                if i + len(stem) <= len(words) and all(
                    words[i + k].startswith(part) for k, part in enumerate(stem)
                ):
                    return task
    return GENERAL_TASK


def _parameters(text: str, tokens: Sequence[_Token], first: int, last: int) -> dict[str, Any]:
    quoted: list[str] = []
    urls: list[str] = []
    # Quoted text and URLs are payload, not instructions: blank them out before looking for
    # control markers and numbers, keeping offsets intact.
    plain: list[str] = []
    for tok in tokens[first : last + 1]:
        piece = text[tok.start : tok.end]
        if tok.kind == "quote":
            inner = piece[1:-1]
            if inner.strip():
                quoted.append(inner)
            plain.append(" " * len(piece))
        elif tok.kind == "url":
            urls.append(piece)
            plain.append(" " * len(piece))
        else:
            plain.append(piece)
    masked = "".join(plain)

    simulate_fail = _SIMULATE_FAIL_RE.search(masked) is not None
    simulate_ms: int | None = None
    sleep = _SIMULATE_MS_RE.search(masked)
    if sleep is not None:
        digits = sleep.group(1) or sleep.group(2)
        simulate_ms = SIMULATE_MS_MAX if len(digits) > 6 else min(int(digits), SIMULATE_MS_MAX)
    # Control markers are not user data: their numbers must not show up in "numbers".
    masked = _SIMULATE_MS_RE.sub(lambda m: " " * len(m.group()), masked)

    numbers: list[int | float] = []
    for match in _NUMBER_RE.finditer(masked):
        literal = match.group()
        if len(literal) > _MAX_NUMBER_CHARS:
            continue
        numbers.append(float(literal) if "." in literal else int(literal))

    parameters: dict[str, Any] = {}
    if quoted:
        parameters["quoted"] = quoted
    if urls:
        parameters["urls"] = urls
    if numbers:
        parameters["numbers"] = numbers
    if simulate_fail:
        parameters["simulate_fail"] = True
    if simulate_ms is not None:
        parameters["simulate_ms"] = simulate_ms
    return parameters


def _resolve_language(command: str, language: str | None) -> Language:
    # Unknown hints ("auto", "de", "") fall back to detection: a hint must never make a command
    # unsegmentable, and the ALT schema only admits "tr" and "en".
    if language is not None:
        base = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
        if base == "tr":
            return "tr"
        if base == "en":
            return "en"
    return detect_language(command)


def segment(
    command: str,
    *,
    language: str | None = None,
    mode: str = "normal",
    chaos_level: int | None = None,
) -> SegmentationResult:
    """Split `command` into at most MAX_SEGMENTS task segments (ids "s1", "s2", ... in order).

    Raises ValueError("command is blank") for an empty or whitespace-only command.
    """
    if not command.strip():
        raise ValueError("command is blank")
    lang = _resolve_language(command, language)
    tokens = _tokenize(command)
    keys = {j: _key(command[t.start : t.end]) for j, t in enumerate(tokens) if t.kind == "word"}

    clauses = _split_clauses(tokens, keys)
    if not clauses:
        # Only connectives and punctuation ("ve ve ve"): the command itself is the one task.
        kept = [j for j, t in enumerate(tokens) if t.kind != "space"]
        clauses = [_Clause(kept[0], kept[-1], ())]
    if len(clauses) > MAX_SEGMENTS:
        tail = clauses[MAX_SEGMENTS - 1]
        clauses = [*clauses[: MAX_SEGMENTS - 1], _Clause(tail.first, clauses[-1].last, tail.lead)]

    chaos = mode.strip().lower() == "chaos" and chaos_level is not None
    segments: list[dict[str, Any]] = []
    for n, clause in enumerate(clauses):
        content = command[tokens[clause.first].start : tokens[clause.last].end].strip()
        words = [keys[j] for j in range(clause.first, clause.last + 1) if j in keys]
        lead_words = [w for phrase in clause.lead for w in phrase]
        # The lead takes part in priority so that "daha sonra bir ara gönder" reads as low.
        priority, priority_words = _priority(lead_words + words)
        task_words = [w for i, w in enumerate(words) if (i + len(lead_words)) not in priority_words]
        sequential = any(_CONNECTIVES[phrase] for phrase in clause.lead)
        refers_back = bool(_covered(words, _BACK_REFERENCE_KEYS))
        parameters = _parameters(command, tokens, clause.first, clause.last)
        if chaos:
            parameters["chaos_level"] = chaos_level
        segments.append(
            {
                "id": f"s{n + 1}",
                "task_type": _task_type(task_words, lang),
                "content": content,
                "parameters": parameters,
                "dependencies": [f"s{n}"] if n > 0 and (sequential or refers_back) else [],
                "priority": priority,
            }
        )
    return SegmentationResult(language=lang, segments=segments)

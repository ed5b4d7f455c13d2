"""Whose record is this? Evidence from a page's text or a DICOM header.

The text rules, tuned to avoid both misses and false alarms:

* **name**: the patient's first and last name (or preferred first name) appear as words;
* **date of birth**: the patient's DOB appears in any common format (ISO, 14/05/2019,
  05/14/2019, 14.05.2019, 14 May 2019, May 14, 2019);
* **MRN**: one of the patient's MRNs appears as a whole word (leading zeros and
  separators ignored);
* **another patient**: a date written after a date-of-birth label ("DOB", "Date of
  birth", "Born", "Fecha de nacimiento", ...) that is not the patient's DOB, a number
  after an MRN label ("MRN", "Medical record number", "Patient ID", "NHC", ...) that is
  not one of the patient's MRNs, or a name after a patient-name label that shares no
  word with the patient's name.

Values found are never returned or logged: only verdicts and flags.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from opinionkit.inspect.dicom import DicomFolder

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january", "ene", "enero", "janv", "janvier", "januar"),
            ("feb", "february", "febrero", "fev", "fevr", "fevrier", "februar"),
            ("mar", "march", "marzo", "mars", "marz"),
            ("apr", "april", "abr", "abril", "avr", "avril"),
            ("may", "mayo", "mai"),
            ("jun", "june", "junio", "juin", "juni"),
            ("jul", "july", "julio", "juil", "juillet", "juli"),
            ("aug", "august", "ago", "agosto", "aout"),
            ("sep", "sept", "september", "septiembre", "septembre"),
            ("oct", "october", "octubre", "octobre", "okt", "oktober"),
            ("nov", "november", "noviembre", "novembre"),
            ("dec", "december", "dic", "diciembre", "decembre", "dez", "dezember"),
        ],
        start=1,
    )
    for m in names
}

_DATE_PATTERNS = [
    # 2019-05-14, 2019/05/14, 2019.05.14
    (re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"), "ymd"),
    # 14/05/2019, 05/14/2019, 14.05.2019, 14-05-2019
    (re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\b"), "dmy|mdy"),
    # 14 May 2019, 14-May-2019, 14 de mayo de 2019
    (
        re.compile(
            r"\b(\d{1,2})(?:st|nd|rd|th)?[\s\-.]+(?:de\s+)?([a-z]{3,10})\.?[\s\-.,]+(?:de\s+)?(\d{4})\b"
        ),
        "dMy",
    ),
    # May 14, 2019
    (re.compile(r"\b([a-z]{3,10})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b"), "Mdy"),
    # 20190514 (DICOM style)
    (re.compile(r"\b(\d{4})(\d{2})(\d{2})\b"), "ymd"),
]

_DOB_LABEL = re.compile(
    r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|birth\s*date|birthdate|born(?:\s+on)?|"
    r"fecha\s+de\s+nacimiento|f\.?\s?nac\.?|date\s+de\s+naissance|ne\(?e?\)?\s+le|"
    r"geburtsdatum|geb\.?)\s*[:#.\-]?\s*"
)
_MRN_LABEL = re.compile(
    r"\b(?:mrn|mr\s*#|mr\s+no\.?|medical\s+record\s+(?:number|no\.?|#)|record\s+(?:number|no\.?)|"
    r"patient\s+id|patient\s+no\.?|hospital\s+(?:number|no\.?)|unit\s+number|nhc|"
    r"n\.?\s?h\.?\s?c\.?|historia\s+clinica|numero\s+de\s+historia|ipp|nhs\s+(?:number|no\.?))"
    r"\s*[:#.\-]?\s*(?:number|no\.?)?\s*[:#]?\s*([a-z0-9][a-z0-9\-/]{2,24})\b"
)
_NAME_LABEL = re.compile(
    r"(?:^|\n|\s{2,}|\|)\s*(?:patient(?:'s)?\s+name|name\s+of\s+patient|patient|paciente|"
    r"nombre\s+del\s+paciente|nom\s+du\s+patient|patientenname)\s*:\s*(.+)",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^[A-Z][A-Za-z'\-]+,?$|^[A-Z]{2,}[A-Z'\-]*,?$")
_NAME_PARTICLES = {"van", "von", "de", "del", "da", "di", "la", "le", "bin", "al", "y"}


class _StripCombining(dict[int, int | None]):
    """``str.translate`` table that drops combining marks; filled as characters are met,
    so the per-character work runs in C once a character has been seen."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.combining(chr(code)) else code
        self[code] = value
        return value


_STRIP_COMBINING = _StripCombining()
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip accents, normalise whitespace (for matching only)."""
    if text.isascii():  # nothing to decompose, no accents (the common case)
        return _SPACES.sub(" ", text.casefold())
    stripped = unicodedata.normalize("NFKD", text).translate(_STRIP_COMBINING)
    return _SPACES.sub(" ", stripped.casefold())


def _norm_id(value: str) -> str:
    core = re.sub(r"[\s\-/.]", "", value.upper())
    return core.lstrip("0") or core


@dataclass(frozen=True)
class Identity:
    name: str
    date_of_birth: date
    mrns: tuple[str, ...] = ()
    preferred_name: str | None = None

    @property
    def name_words(self) -> list[str]:
        return [w for w in re.split(r"[\s,^]+", fold(self.name)) if len(w) >= 2]

    @property
    def mrn_keys(self) -> set[str]:
        return {_norm_id(m) for m in self.mrns}


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(word) + r"(?![a-z0-9])")


@dataclass(frozen=True)
class _Matchers:
    """What :func:`text_evidence` looks for, prepared once per identity (not per page)."""

    words: tuple[str, ...]
    first: re.Pattern[str] | None
    last: re.Pattern[str] | None
    preferred: re.Pattern[str] | None
    mrns: tuple[re.Pattern[str], ...]
    mrn_keys: frozenset[str]
    ours: frozenset[str]
    """Folded name words (and preferred name) that make a labelled name the patient's."""


@lru_cache(maxsize=16)
def _matchers(who: Identity) -> _Matchers:
    words = tuple(who.name_words)
    preferred = fold(who.preferred_name) if who.preferred_name else None
    return _Matchers(
        words=words,
        first=_word_pattern(words[0]) if words else None,
        last=_word_pattern(words[-1]) if words else None,
        preferred=_word_pattern(preferred) if preferred is not None else None,
        mrns=tuple(_word_pattern(fold(m)) for m in who.mrns),
        mrn_keys=frozenset(who.mrn_keys),
        ours=frozenset(words) | ({preferred} if preferred is not None else set()),
    )


@dataclass(frozen=True)
class TextEvidence:
    name: bool = False
    dob: bool = False
    mrn: bool = False
    other_dobs: bool = False
    other_mrns: bool = False
    other_names: bool = False
    unknown_mrns: frozenset[str] = frozenset()
    """Normalised labelled MRNs that are not the patient's (for cross-page learning only)."""

    @property
    def verdict(self) -> str:
        if self.other_dobs or self.other_mrns or self.other_names:
            return "mismatch"
        if self.name or self.dob or self.mrn:
            return "match"
        return "none"


def _make(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def dates_in(text: str) -> list[tuple[int, int, set[date]]]:
    """(start, end, possible dates) for every date-like run in folded ``text``."""
    found: list[tuple[int, int, set[date]]] = []
    taken: list[range] = []
    for pattern, kind in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() in r for r in taken):
                continue
            a, b, c = m.groups()
            options: set[date | None] = set()
            if kind == "ymd":
                options.add(_make(int(a), int(b), int(c)))
            elif kind == "dmy|mdy":
                options.add(_make(int(c), int(b), int(a)))
                options.add(_make(int(c), int(a), int(b)))
            elif kind == "dMy":
                month = MONTHS.get(b.rstrip("."))
                if month:
                    options.add(_make(int(c), month, int(a)))
            elif kind == "Mdy":
                month = MONTHS.get(a.rstrip("."))
                if month:
                    options.add(_make(int(c), month, int(b)))
            dates = {d for d in options if d is not None}
            if dates:
                found.append((m.start(), m.end(), dates))
                taken.append(range(m.start(), m.end()))
    return found


def _labelled_names(raw: str) -> list[list[str]]:
    """Name-like word runs after a patient-name label (original case, for shape tests)."""
    out: list[list[str]] = []
    for m in _NAME_LABEL.finditer(raw):
        words: list[str] = []
        for w in m.group(1).split():
            if w.lower() in _NAME_PARTICLES and words:
                continue
            if not _NAME_WORD.match(w) or w.rstrip(":").lower() in (
                "dob",
                "mrn",
                "date",
                "age",
                "sex",
            ):
                break
            words.append(w.rstrip(","))
            if len(words) == 4:
                break
        if len(words) >= 2:
            out.append(words)
    return out


@dataclass(frozen=True)
class _PageFacts:
    """What one page says, before MRNs learned from other pages are taken into account."""

    name: bool
    dob: bool
    mrn_word: bool
    """One of the case's MRNs appears as a word."""
    other_dobs: bool
    other_names: bool
    labelled: frozenset[str]
    """Normalised values after an MRN label."""
    labelled_ids: frozenset[str]
    """Those of them with a digit (the candidates for another patient's MRN)."""


def _page_facts(text: str, who: Identity) -> _PageFacts:
    m = _matchers(who)
    folded = fold(text)
    name = bool(m.first and m.last and m.first.search(folded) and m.last.search(folded))
    if not name and m.preferred and m.last:
        name = bool(m.preferred.search(folded) and m.last.search(folded))

    all_dates = dates_in(folded)
    dob = any(who.date_of_birth in ds for _, _, ds in all_dates)

    other_dobs = False
    for label in _DOB_LABEL.finditer(folded):
        after = [ds for s, _, ds in all_dates if label.end() <= s <= label.end() + 3]
        if after and who.date_of_birth not in after[0]:
            other_dobs = True

    values = _MRN_LABEL.findall(folded)
    other_names = any(
        not {fold(w) for w in candidate} & m.ours for candidate in _labelled_names(text)
    )
    return _PageFacts(
        name=name,
        dob=dob,
        mrn_word=any(p.search(folded) for p in m.mrns),
        other_dobs=other_dobs,
        other_names=other_names,
        labelled=frozenset(_norm_id(v) for v in values),
        labelled_ids=frozenset(_norm_id(v) for v in values if any(ch.isdigit() for ch in v)),
    )


def _evidence(facts: _PageFacts, who: Identity, known_mrns: Iterable[str]) -> TextEvidence:
    mine = _matchers(who).mrn_keys.union(known_mrns)
    mrn = facts.mrn_word or not facts.labelled.isdisjoint(mine)
    unknown = facts.labelled_ids - mine
    # An MRN from a facility the case does not list is only suspicious when nothing on
    # the page names the patient: next to the patient's name or date of birth it is most
    # likely that facility's own number (other_dobs / other_names catch a different person).
    other_mrns = bool(unknown) and not (facts.name or facts.dob)
    return TextEvidence(
        facts.name, facts.dob, mrn, facts.other_dobs, other_mrns, facts.other_names, unknown
    )


def text_evidence(
    text: str, who: Identity, known_mrns: frozenset[str] = frozenset()
) -> TextEvidence:
    """Judge one page's text. ``known_mrns`` are further (normalised) MRNs accepted as the
    patient's, e.g. learned from another page of the same record that names the patient."""
    return _evidence(_page_facts(text, who), who, known_mrns)


def record_evidence(texts: Iterable[str], who: Identity) -> list[TextEvidence]:
    """Judge the pages of one record: as :func:`text_evidence`, with the MRNs printed on
    pages that name the patient (name or date of birth) accepted on every page -- a
    facility's own number that the case file does not list. Each page is read once."""
    facts = [_page_facts(text, who) for text in texts]
    mine = _matchers(who).mrn_keys
    known: set[str] = set()
    for f in facts:
        if f.name or f.dob:
            known |= f.labelled_ids - mine
    return [_evidence(f, who, known) for f in facts]


@dataclass(frozen=True)
class DicomEvidence:
    verdict: str
    """"match", "mismatch", "weak" (only partial agreement) or "none" (anonymised)."""
    name_mismatch: bool = False
    id_mismatch: bool = False
    dob_mismatch: bool = False


def _dicom_name_words(value: str) -> set[str]:
    return {w for w in re.split(r"[\s,^]+", fold(value)) if len(w) >= 2}


def dicom_evidence(folder: DicomFolder, who: Identity) -> DicomEvidence:
    words = set(who.name_words)
    if who.preferred_name:
        words.add(fold(who.preferred_name))
    name_ok = name_bad = False
    for n in folder.patient_names:
        shared = _dicom_name_words(n) & words
        if len(shared) >= 2 or (len(words) == 1 and shared):
            name_ok = True  # e.g. FERRER^TOMAS for Tomás Ferrer Vidal
        elif not shared:
            name_bad = True  # no word of the patient's name at all
    dob_text = who.date_of_birth.strftime("%Y%m%d")
    dob_ok = dob_text in folder.birth_dates
    dob_bad = any(d != dob_text for d in folder.birth_dates)
    ids = {_norm_id(i) for i in folder.patient_ids}
    id_ok = bool(ids & who.mrn_keys)
    id_bad = bool(ids - who.mrn_keys)
    # An ID from an imaging centre the case does not list is not, alone, a mismatch: it is
    # one when neither the name nor the birth date says the study is the patient's.
    id_mismatch = id_bad and not (name_ok or dob_ok)
    if name_bad or dob_bad or id_mismatch:
        return DicomEvidence("mismatch", name_bad, id_mismatch, dob_bad)
    if name_ok and (dob_ok or id_ok):
        return DicomEvidence("match")
    if name_ok or dob_ok or id_ok:
        return DicomEvidence("weak")
    return DicomEvidence("none")

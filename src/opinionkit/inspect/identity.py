"""Whose record is this? Evidence from a page's text or a DICOM header.

Names (every form of the patient's: ``name``, ``preferred_name`` with the family name,
each of ``other_names``) are compared after Unicode NFKC, case folding and diacritic
folding (Müller = Muller, and the German spelling Mueller too); hyphens and apostrophes
separate parts (O'Neil = O Neil = ONeil, Mary-Jane = Mary Jane). A Latin-script name
matches when the family name and a given name agree; a name in Chinese, Japanese or Korean
script matches when the whole native name appears (spaces ignored). A name is compared
only with forms in the same script: a Latin name on a page is no evidence either way
about a patient known only as 王小明.

The text rules, tuned to avoid both misses and false alarms:

* **name**: a name form of the patient appears (as above);
* **date of birth**: the patient's DOB appears in a common written form (ISO,
  14/05/2019, 05/14/2019, 14.05.2019, 14 May 2019, May 14, 2019, 14 mai 2019,
  2019年5月14日, 2019년 5월 14일);
* **MRN**: one of the patient's MRNs appears as a whole word (leading zeros and
  separators ignored);
* **another patient**: someone named *as the patient* who is not this patient: a date
  after a date-of-birth label that is not the patient's DOB (an ambiguous numeric date,
  03/04/1968, never by itself), a number after an MRN label that is not one of the
  patient's MRNs, or a name after a patient-name label that does not agree with any of
  the patient's names. A label preceded (on its line, or by the nearest heading above)
  by a parent's, guardian's, subscriber's, insured's, emergency contact's or signer's
  word is about that person, not the patient; so is a name or date of birth equal to a
  listed guardian's.

Values found are never returned or logged: only verdicts and flags.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from itertools import pairwise

from opinionkit.inspect.dicom import DicomFolder, DicomPatient

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            (
                "jan",
                "january",
                "ene",
                "enero",
                "janv",
                "janvier",
                "januar",
                "janner",
                "gen",
                "gennaio",
            ),
            ("feb", "february", "febrero", "fev", "fevr", "fevrier", "februar", "febbraio"),
            ("mar", "march", "marzo", "mars", "marz", "maerz"),
            ("apr", "april", "abr", "abril", "avr", "avril", "aprile"),
            ("may", "mayo", "mai", "mag", "maggio"),
            ("jun", "june", "junio", "juin", "juni", "giu", "giugno"),
            ("jul", "july", "julio", "juil", "juillet", "juli", "lug", "luglio"),
            ("aug", "august", "ago", "agosto", "aout"),
            (
                "sep",
                "sept",
                "september",
                "septiembre",
                "setiembre",
                "septembre",
                "set",
                "settembre",
            ),
            ("oct", "october", "octubre", "octobre", "okt", "oktober", "ott", "ottobre"),
            ("nov", "november", "noviembre", "novembre"),
            ("dec", "december", "dic", "diciembre", "decembre", "dez", "dezember", "dicembre"),
        ],
        start=1,
    )
    for m in names
}

_DATE_PATTERNS = [
    # 1968年3月12日, 1968년 3월 12일 (CJK; digits are ASCII after NFKC)
    (re.compile(r"(\d{4})\s*[年년]\s*(\d{1,2})\s*[月월]\s*(\d{1,2})\s*[日일]?"), "ymd"),
    # 2019-05-14, 2019/05/14, 2019.05.14
    (re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"), "ymd"),
    # 14/05/2019, 05/14/2019, 14.05.2019, 14-05-2019
    (re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\b"), "dmy|mdy"),
    # 14 May 2019, 14-May-2019, 14 de mayo de 2019, 1er mars 2019, 12. März 2019
    (
        re.compile(
            r"\b(\d{1,2})(?:st|nd|rd|th|er|e)?[\s\-.]+(?:de\s+)?([a-z]{3,10})\.?[\s\-.,]+"
            r"(?:de\s+)?(\d{4})\b"
        ),
        "dMy",
    ),
    # May 14, 2019
    (re.compile(r"\b([a-z]{3,10})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b"), "Mdy"),
    # 20190514 (DICOM style)
    (re.compile(r"\b(\d{4})(\d{2})(\d{2})\b"), "ymd"),
]

_DOB_LABEL = re.compile(
    r"(?:\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|birth\s*date|birthdate|born(?:\s+on)?|"
    r"fecha\s+de\s+nacimiento|f\.?\s?nac\.?|date\s+de\s+naissance|nee?\(?e?\)?\s+le|"
    r"data\s+di\s+nascita|nat[oa]\s+il|geburtsdatum|geb\.?)|"
    r"生年月日|出生日期|出生年月日|出生年月|生日|생년월일|생일)\s*[:#.\-]?\s*"
)
_MRN_LABEL = re.compile(
    r"\b(?:mrn|mr\s*#|mr\s+no\.?|medical\s+record\s+(?:number|no\.?|#)|record\s+(?:number|no\.?)|"
    r"patient\s+id|patient\s+no\.?|hospital\s+(?:number|no\.?)|unit\s+number|nhc|"
    r"n\.?\s?h\.?\s?c\.?|historia\s+clinica|numero\s+de\s+historia|ipp|nhs\s+(?:number|no\.?))"
    r"\s*[:#.\-]?\s*(?:number|no\.?)?\s*[:#]?\s*([a-z0-9][a-z0-9\-/]{2,24})\b"
    r"|(?:病历号|病歷號|病案号|住院号|门诊号|患者id|カルテ番号|患者番号|診察券番号|"
    r"등록번호|병록번호|환자번호)\s*[:#]?\s*([a-z0-9][a-z0-9\-/]{2,24})\b"
)
_NAME_LABEL = re.compile(
    r"(?:^|\n|\s{2,}|\|)\s*(?:patient(?:'s)?\s+name|name\s+of\s+patient|patient|paciente|"
    r"nombre\s+del\s+paciente|nom\s+du\s+patient|patientenname|"
    r"(?:患者|病人|受診者|환자\s?)?(?:姓名|氏名|名前|患者名|성명|이름|환자명)|患者|病人|환자)"
    r"\s*:\s*(.+)",
    re.IGNORECASE,
)
_NAME_PARTICLES = {"van", "von", "de", "del", "da", "di", "la", "le", "bin", "al", "y"}
_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sr", "sra", "srta", "mme", "mlle",
           "herr", "frau", "sig", "sig.ra"}  # fmt: skip
_NOT_NAME_WORDS = {"dob", "mrn", "date", "age", "sex", "id", "born"}
_HONORIFICS = ("先生", "女士", "小姐", "様", "さま", "さん", "殿", "님", "씨")

# Words naming a person on the page who is not the patient (folded text).
_OTHER_PERSON = (
    r"relationship\s+to\s+(?:the\s+)?patient|relation\s+to\s+patient|patient\s+relationship|"
    r"parent|parents|guardian|mother|father|mom|dad|subscriber|insured|policy\s?holder|"
    r"card\s?holder|emergency\s+contact|next\s+of\s+kin|signature|signer|signed\s+by|"
    r"signatory|witness|spouse|responsible\s+party|representative|guarantor|"
    r"tutor|tutora|padre|madre|asegurado|asegurada|titular|firma|firmante|tuteur|tutrice|"
    r"pere|mere|assure|assuree|signataire|vater|mutter|vormund|versicherter?|versicherungsnehmer|"
    r"unterschrift|elternteil|genitore|assicurato|assicurata|"
    r"监护人|監護人|家长|家長|父亲|母亲|父親|母親|投保人|被保险人|被保險人|签名|簽名|签字|"
    r"保護者|親権者|署名|被保険者|保険者|보호자|부모|아버지|어머니|서명|피보험자|보험계약자"
)
_PATIENT_PERSON = r"patient|paciente|patiente|patientin|paziente|患者|病人|受診者|환자"
_PERSON_WORD = re.compile(
    rf"(?<![^\W\d_])(?:(?P<other>{_OTHER_PERSON})|(?P<patient>{_PATIENT_PERSON}))(?:'s)?"
    r"(?![a-z])"
)


# --------------------------------------------------------------------------- folding


def _fold_char(code: int) -> str | None:
    ch = chr(code)
    if code >= 0x3000:  # CJK, kana, Hangul: kept as they are (NFKC already applied)
        return ch
    special = _SPECIAL.get(ch)
    if special is not None:
        return special
    if unicodedata.combining(ch):
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_SPECIAL = {
    "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i",
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
}  # fmt: skip


class _FoldTable(dict[int, str | None]):
    """``str.translate`` table folding diacritics; filled as characters are met, so the
    per-character work runs in C once a character has been seen."""

    def __missing__(self, code: int) -> str | None:
        value = _fold_char(code)
        self[code] = value
        return value


_FOLD = _FoldTable()
_SPACES = re.compile(r"\s+")
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def fold(text: str) -> str:
    """NFKC, case folding, diacritics folded, whitespace normalised (for matching only)."""
    if text.isascii():  # nothing to compose or decompose (the common case)
        return _SPACES.sub(" ", text.casefold().replace("`", "'"))
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    return _SPACES.sub(" ", text.casefold())


def _norm_id(value: str) -> str:
    core = re.sub(r"[\s\-/.]", "", value.upper())
    return core.lstrip("0") or core


_CJK = frozenset({"han", "kana", "hangul"})


def _script_of(ch: str) -> str | None:
    o = ord(ch)
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF or 0xFF66 <= o <= 0xFF9F:
        return "kana"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or o >= 0x20000:
        return "han"
    if ch.isalpha():
        return unicodedata.name(ch, "x").split(" ")[0].lower()
    return None


def scripts(text: str) -> frozenset[str]:
    """The scripts of ``text``'s letters: ``latin``, ``cyrillic``, ``han``, ``kana``, ..."""
    return frozenset(s for s in map(_script_of, text) if s is not None)


_NAME_SPLIT = re.compile(r"[\s,^=;]+")
_PART_SPLIT = re.compile(r"['\-.]+")


def _words(text: str) -> list[tuple[str, ...]]:
    """Folded words of a name, each split into its parts at hyphens and apostrophes."""
    out = []
    for w in _NAME_SPLIT.split(fold(text)):
        parts = tuple(p for p in _PART_SPLIT.split(w) if p)
        if parts:
            out.append(parts)
    return out


def _compact(text: str) -> str:
    """A CJK name for comparison: spaces and dots dropped, Han variants unified."""
    return han_key(re.sub(r"[\s\u30fb\u00b7・^=,.]+", "", fold(text)))


@dataclass(frozen=True)
class NameForm:
    """One written form of a person's name, prepared for matching."""

    words: tuple[tuple[str, ...], ...]
    scripts: frozenset[str]
    compact: str

    @property
    def cjk(self) -> bool:
        return bool(self.scripts) and self.scripts <= _CJK

    @cached_property
    def tokens(self) -> frozenset[str]:
        """Each word joined (``oneil``), each part of two letters or more (``neil``), two
        neighbouring words joined (``Gil Dong`` = ``Gildong``), and each with romanised
        long vowels shortened (``Tarou`` = ``Taro`` = ``Tarō``)."""
        joined = ["".join(w) for w in self.words]
        out = set(joined)
        out |= {p for w in self.words for p in w if len(p) >= 2}
        out |= {a + b for a, b in pairwise(joined)}
        out |= {_long_vowels(t) for t in out}
        return frozenset(out)


_LONG_VOWELS = re.compile(r"(?<=o)[ou]|(?<=u)u|(?<=^o)h(?![aeiouy])")


def _long_vowels(token: str) -> str:
    """Hepburn long vowels written out shortened: ``ou``/``oo`` -> ``o``, ``uu`` -> ``u``,
    a leading ``oh`` -> ``o`` (Ohno = Ono), for comparison only: a romanised Japanese
    name is spelled several ways."""
    return _LONG_VOWELS.sub("", token) if len(token) > 3 else token


def name_forms(*names: str | None) -> tuple[NameForm, ...]:
    """Every form of the given names, with their German umlaut spellings (ü = ue)."""
    out: list[NameForm] = []
    for name in names:
        if not name or not name.strip():
            continue
        for variant in dict.fromkeys((name, name.translate(_GERMAN))):
            form = NameForm(tuple(_words(variant)), scripts(variant), _compact(variant))
            if form.words and form not in out:
                out.append(form)
    return tuple(out)


def _comparable(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a & b)


# --------------------------------------------------------------------------- the patient


@dataclass(frozen=True)
class Identity:
    name: str
    date_of_birth: date
    mrns: tuple[str, ...] = ()
    preferred_name: str | None = None
    other_names: tuple[str, ...] = ()
    """Names in other scripts, maiden names, aliases (``patient.other_names``)."""
    guardian_names: tuple[str, ...] = ()
    guardian_dobs: tuple[date, ...] = ()
    """Other people a record may name: their name or birth date is never a mismatch."""

    @property
    def forms(self) -> tuple[NameForm, ...]:
        names: list[str | None] = [self.name, *self.other_names]
        if self.preferred_name:
            family = self.name.split()[-1] if self.name.split() else ""
            names.append(f"{self.preferred_name} {family}")
        return name_forms(*names)

    @property
    def name_words(self) -> list[str]:
        return [t for w in _words(self.name) for t in ("".join(w),) if len(t) >= 2]

    @property
    def mrn_keys(self) -> set[str]:
        return {_norm_id(m) for m in self.mrns}


def _word_pattern(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<![^\W_])" + re.escape(word) + r"(?![^\W_])")


def _name_word_pattern(parts: tuple[str, ...]) -> str:
    """One name word, its parts joined by an optional separator (O'Neil, O Neil, ONeil);
    a long one (six letters or more) may be split anywhere, as romanised names are
    (Xiaoming = Xiao Ming = Xiao-ming, Gildong = Gil-dong)."""
    word = "".join(parts)
    if len(word) >= 6 and word.isalpha():
        return r"[\s'\-]?".join(re.escape(c) for c in word)
    return r"[\s'\-]?".join(re.escape(p) for p in parts)


def _cjk_pattern(compact: str) -> re.Pattern[str]:
    """The native name in text: any of each character's variants, spaces allowed between."""
    members = _han_members()

    def one(c: str) -> str:
        group = members.get(c)
        return "[" + "".join(re.escape(m) for m in sorted(group)) + "]" if group else re.escape(c)

    return re.compile(r"\s?".join(one(c) for c in compact))


@lru_cache(maxsize=1)
def _han_members() -> dict[str, frozenset[str]]:
    """Representative -> the Han characters it stands for (see :func:`han_key`)."""
    out: dict[str, set[str]] = {}
    for c, rep in (_han_classes() or {}).items():
        out.setdefault(rep, {rep}).add(c)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True)
class _FormMatcher:
    """How a page names one form: whole words (``None`` for a CJK form) or the native run."""

    words: tuple[re.Pattern[str], ...] = ()
    parts: tuple[tuple[re.Pattern[str], ...], ...] = ()
    native: re.Pattern[str] | None = None

    def found(self, folded: str) -> bool:
        if self.native is not None:
            return bool(self.native.search(folded))
        if len(self.words) < 2:
            return bool(self.words) and bool(self.words[0].search(folded))
        hit = [
            bool(w.search(folded)) or any(p.search(folded) for p in ps)
            for w, ps in zip(self.words, self.parts, strict=True)
        ]
        # the family name (last word, or first in family-first order) and a given name
        last = bool(self.words[-1].search(folded))
        first = bool(self.words[0].search(folded))
        return (last and any(hit[:-1])) or (first and any(hit[1:]))


def _form_matcher(form: NameForm) -> _FormMatcher:
    if form.cjk:
        return _FormMatcher(native=_cjk_pattern(form.compact))
    words = tuple(
        re.compile(r"(?<![^\W_])" + _name_word_pattern(w) + r"(?![^\W_])") for w in form.words
    )
    parts = tuple(
        tuple(_word_pattern(p) for p in w if len(p) >= 2) if len(w) > 1 else () for w in form.words
    )
    return _FormMatcher(words, parts)


@dataclass(frozen=True)
class _Matchers:
    """What :func:`text_evidence` looks for, prepared once per identity (not per page)."""

    forms: tuple[NameForm, ...]
    names: tuple[_FormMatcher, ...]
    mrns: tuple[re.Pattern[str], ...]
    mrn_keys: frozenset[str]
    guardians: tuple[NameForm, ...]


def prepare(who: Identity) -> None:
    """Build what matching ``who`` needs (the Han variant table, when a name is in Han
    characters) before worker processes are forked, so that each does not build it again."""
    _matchers(who)


@lru_cache(maxsize=16)
def _matchers(who: Identity) -> _Matchers:
    forms = who.forms
    return _Matchers(
        forms=forms,
        names=tuple(_form_matcher(f) for f in forms),
        mrns=tuple(_word_pattern(fold(m)) for m in who.mrns),
        mrn_keys=frozenset(who.mrn_keys),
        guardians=name_forms(*who.guardian_names),
    )


def names_agree(candidate: NameForm, form: NameForm) -> bool:
    """Whether a name written on a page (or in a header) is ``form``'s person: for a CJK
    form the native name (honorifics dropped); else two words (a family and a given name)
    shared, or every word of a one-word form."""
    if form.cjk:
        # the run after a label may go on with the next field (王小明 病历号): try it
        # whole, and cut at each space
        chunks = [han_key("".join(w)) for w in candidate.words] or [candidate.compact]
        for k in range(len(chunks), 0, -1):
            got = "".join(chunks[:k])
            for h in _HONORIFICS:
                got = got.removesuffix(han_key(h))
            if got == form.compact:
                return True
        return False
    shared = candidate.tokens & form.tokens
    # a hyphenated word counts once: its joined form and its parts are one name
    words = {"".join(w) for w in form.words}
    hits = {w for w in form.words if "".join(w) in shared or any(p in shared for p in w)}
    return len(hits) >= min(2, len(words))


@lru_cache(maxsize=1)
def _han_classes() -> dict[str, str] | None:
    """Each Han character -> one representative of its simplified / traditional /
    Japanese shinjitai variants (张 張 -> one, 沢 澤 -> one), from OpenCC's character tables
    in the opencc-purepy package; None when the package is missing."""
    from importlib import resources

    try:
        base = resources.files("opencc_purepy") / "dicts"
        texts = [
            (base / name).read_text(encoding="utf-8")
            for name in ("STCharacters.txt", "TSCharacters.txt", "JPShinjitaiCharacters.txt")
        ]
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None
    parent: dict[str, str] = {}

    def find(c: str) -> str:
        root = c
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(c, c) != root:
            parent[c], c = root, parent[c]
        return root

    for text in texts:
        for line in text.splitlines():
            if not line or line.startswith("#") or "\t" not in line:
                continue
            key, values = line.split("\t", 1)
            for v in [key, *values.split()]:
                if len(v) != 1 or len(key) != 1:
                    continue
                a, b = find(key), find(v)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {c: find(c) for c in list(parent)}


def han_key(text: str) -> str:
    """``text`` with each Han character replaced by its variants' representative."""
    if text.isascii() or "han" not in scripts(text):
        return text
    classes = _han_classes()
    if not classes:
        return text
    return "".join(classes.get(c, c) for c in text)


def han_variant_possible(a: str, b: str) -> bool:
    """Whether two different Han names may be one name in simplified and traditional
    characters (王小东 / 王小東) when OpenCC's tables are missing: same length, same family
    character; such a pair is then never taken as another person's name, nor as the
    patient's. With the tables (the normal case), :func:`han_key` decides and this is False."""
    if _han_classes() is not None:
        return False
    return (
        len(a) == len(b)
        and len(a) >= 2
        and a[0] == b[0]
        and scripts(a) == scripts(b) == frozenset({"han"})
    )


def _agrees_with_any(candidate: NameForm, forms: Iterable[NameForm]) -> bool | None:
    """True: agrees with a form; False: comparable with some form and agrees with none;
    None: no form in its script, or only a possible simplified/traditional spelling of
    one (no evidence either way)."""
    comparable = uncertain = False
    for form in forms:
        if _comparable(candidate.scripts, form.scripts):
            comparable = True
            if names_agree(candidate, form):
                return True
            prefixes = ["".join(w for w in map("".join, candidate.words[:k])) for k in
                        range(1, len(candidate.words) + 1)] or [candidate.compact]  # fmt: skip
            if form.cjk and any(han_variant_possible(x, form.compact) for x in prefixes):
                uncertain = True
    return False if comparable and not uncertain else None


# --------------------------------------------------------------------------- text


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
    doubtful_dobs: bool = False
    """A labelled, ambiguous numeric date (03/04/1968) that is not the patient's DOB under
    either reading: never by itself a mismatch, one of its fields when there is one."""

    @property
    def verdict(self) -> str:
        if self.other_dobs or self.other_mrns or self.other_names:
            return "mismatch"
        if self.name or self.dob or self.mrn:
            return "match"
        return "none"

    @property
    def fields(self) -> list[str]:
        """The fields that show another patient (for the mismatch's message)."""
        out = []
        if self.other_names:
            out.append("patient name")
        if self.other_dobs or (self.doubtful_dobs and self.verdict == "mismatch"):
            out.append("date of birth")
        if self.other_mrns:
            out.append("MRN")
        return out


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


def about_someone_else(folded: str, at: int) -> bool:
    """Whether a label at ``at`` is about another person (a parent, guardian, subscriber,
    signer ...): the nearest person word before it on its line -- or, when its line has
    none, on the six lines above -- is such a word, not "patient" ("relationship to
    patient" is another person's)."""
    line_start = folded.rfind("\n", 0, at) + 1
    segments = [folded[max(line_start, at - 200) : at]]
    start = line_start
    for _ in range(6):
        if start <= 0:
            break
        prev = folded.rfind("\n", 0, start - 1) + 1
        segments.append(folded[prev : start - 1])
        start = prev
    for segment in segments:
        last = None
        for m in _PERSON_WORD.finditer(segment):
            last = m
        if last is not None:
            return last.group("other") is not None
    return False


def _is_name_word(w: str) -> bool:
    core = w.rstrip(",")
    if not core or not core[0].isupper() or not core[0].isalpha():
        return False
    return all(ch.isalpha() or ch in "'-\u2019" for ch in core)


def _labelled_names(raw: str) -> list[tuple[int, NameForm]]:
    """(position, name) after each patient-name label (original case, for shape tests)."""
    out: list[tuple[int, NameForm]] = []
    if not raw.isascii():
        raw = unicodedata.normalize("NFKC", raw)  # fullwidth colons and letters
    for m in _NAME_LABEL.finditer(raw):
        value = m.group(1).rstrip()
        if value.endswith("-"):  # a word broken at the end of the line: join its rest
            rest = re.match(r"\s*\n\s*(\S+)", raw[m.end(1) :])
            if rest:
                value = value[:-1] + rest.group(1)
        if value.strip() and _script_of(value.strip()[0]) in _CJK:
            cjk = r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]"
            run = re.match(rf"{cjk}+(?: {cjk}+)*", value.strip())
            if run:
                out.extend((m.start(1), f) for f in name_forms(run.group(0).strip())[:1])
            continue
        words: list[str] = []
        for w in value.split():
            if w.lower() in _NAME_PARTICLES and words:
                continue
            if re.fullmatch(r"[A-Z]\.?", w) or w.rstrip(".").lower() in _TITLES:
                continue  # an initial, a title
            if not _is_name_word(w) or w.rstrip(":").lower() in _NOT_NAME_WORDS:
                break
            words.append(w.rstrip(","))
            if len(words) == 4:
                break
        if len(words) >= 2:
            out.extend((m.start(1), f) for f in name_forms(" ".join(words))[:1])
    return out


@dataclass(frozen=True)
class _PageFacts:
    """What one page says, before MRNs learned from other pages are taken into account."""

    name: bool
    dob: bool
    mrn_word: bool
    """One of the case's MRNs appears as a word."""
    other_dobs: bool
    doubtful_dobs: bool
    other_names: bool
    labelled: frozenset[str]
    """Normalised values after an MRN label (about the patient)."""
    labelled_ids: frozenset[str]
    """Those of them with a digit (the candidates for another patient's MRN)."""


def _page_facts(text: str, who: Identity) -> _PageFacts:
    m = _matchers(who)
    folded = fold(text)
    name = any(f.found(folded) for f in m.names)

    all_dates = dates_in(folded)
    dob = any(who.date_of_birth in ds for _, _, ds in all_dates)

    other_dobs = doubtful = False
    guardian_dobs = set(who.guardian_dobs)
    for label in _DOB_LABEL.finditer(folded):
        after = [ds for s, _, ds in all_dates if label.end() <= s <= label.end() + 3]
        if not after or who.date_of_birth in after[0] or after[0] & guardian_dobs:
            continue
        if about_someone_else(folded, label.start()):
            continue
        if len(after[0]) > 1:
            doubtful = True
        else:
            other_dobs = True

    values = [
        v.group(1) or v.group(2)
        for v in _MRN_LABEL.finditer(folded)
        if not about_someone_else(folded, v.start())
    ]
    other_names = False
    for _, candidate in _labelled_names(text):
        if _agrees_with_any(candidate, m.guardians):
            continue
        if _agrees_with_any(candidate, m.forms) is False:
            other_names = True
    return _PageFacts(
        name=name,
        dob=dob,
        mrn_word=any(p.search(folded) for p in m.mrns),
        other_dobs=other_dobs,
        doubtful_dobs=doubtful,
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
        facts.name,
        facts.dob,
        mrn,
        facts.other_dobs,
        other_mrns,
        facts.other_names,
        unknown,
        facts.doubtful_dobs,
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
        if (f.name or f.dob) and not (f.other_names or f.other_dobs):
            known |= f.labelled_ids - mine
    return [_evidence(f, who, known) for f in facts]


# --------------------------------------------------------------------------- DICOM

_ANONYMOUS = frozenset(
    {
        "anonymous", "anonymised", "anonymized", "anon", "removed", "unknown", "none", "na",
        "n/a", "deidentified", "de-identified", "patient", "redacted", "xxx", "test",
        "last", "first", "lastname", "firstname", "name", "mid", "pre", "phantom", "noname",
    }
)  # fmt: skip


@dataclass(frozen=True)
class DicomEvidence:
    verdict: str
    """Of the folder: "mismatch" (some file names someone else), "match" (every file names
    the patient), "weak" (some only partial agreement) or "none" (anonymised)."""
    mismatched: tuple[str, ...] = ()
    """Files (relative to the folder) that identify someone else."""
    fields: tuple[str, ...] = ()
    """The header fields that do (PatientName, PatientID, PatientBirthDate)."""
    unverified: tuple[str, ...] = ()
    """Files that do not identify the patient (anonymised, incomplete or partial)."""

    @property
    def name_mismatch(self) -> bool:
        return "PatientName" in self.fields

    @property
    def id_mismatch(self) -> bool:
        return "PatientID" in self.fields

    @property
    def dob_mismatch(self) -> bool:
        return "PatientBirthDate" in self.fields


def _anonymous(component_text: str) -> bool:
    """An empty, anonymised or pseudonymised name (``^^^^``, ``ANONYMOUS``,
    ``Lastname^Firstname``, ``CQ500-CT-310``: a name with digits is a code, not a name)."""
    if any(ch.isdigit() for ch in component_text):
        return True
    words = [w for w in re.split(r"[\s^=,._]+", fold(component_text)) if w]
    return not words or all(w in _ANONYMOUS or set(w) <= {"x", "*", "-", "?"} for w in words)


def _group_state(group: tuple[str, ...], forms: tuple[NameForm, ...]) -> str | None:
    """One Person Name component group (family, given, middle, prefix, suffix) against
    the patient's forms: "match", "partial", "other", or None (empty, anonymised, or in
    a script none of the forms is written in)."""
    family, given, middle = (*group, "", "", "")[:3]
    whole = " ".join(c for c in (family, given, middle) if c)
    if _anonymous(whole):
        return None
    candidate = name_forms(whole)[0]
    comparable = [f for f in forms if _comparable(candidate.scripts, f.scripts)]
    if not comparable:
        return None
    state = "other"
    for form in comparable:
        if form.cjk or candidate.cjk:
            native = _compact(family + given + middle)
            if native == form.compact or _compact(given + middle + family) == form.compact:
                return "match"
            if han_variant_possible(native, form.compact):
                state = "partial"  # perhaps the simplified/traditional spelling
            continue
        if not given and not middle:  # no component split: compare as written text
            if names_agree(candidate, form):
                return "match"
            continue
        fam = name_forms(family)[0].tokens if family.strip() else frozenset()
        giv = name_forms(f"{given} {middle}")[0] if (given + middle).strip() else None
        tokens = form.tokens
        family_ok = bool(fam) and bool(fam & tokens)
        given_tokens = giv.tokens - fam if giv is not None else frozenset()
        if family_ok and given_tokens & tokens:
            return "match"
        if family_ok and (
            not given_tokens
            or (
                all(len(t) == 1 for t in given_tokens)
                and any(t[0] in {x[0] for x in tokens} for t in given_tokens)
            )
        ):
            state = "partial"  # TESTPERSON^A: an initial, or no given name
        # swapped components (ADA^TESTPERSON) agree as plain words
        if names_agree(candidate, form):
            return "match"
    return state


def dicom_name_state(groups: tuple[tuple[str, ...], ...], forms: tuple[NameForm, ...]) -> str:
    """A Person Name (its alphabetic, ideographic and phonetic groups) against the
    patient's forms: "match" when any group agrees with a form in its script, "other" when
    a group disagrees with every form in its script, "partial" (a family name with an
    initial, or a possible simplified/traditional Han spelling), or "none" (empty,
    anonymised, or in no script of the patient's forms)."""
    states = {_group_state(g, forms) for g in groups}
    for state in ("match", "other", "partial"):
        if state in states:
            return state
    return "none"


def dicom_patient_verdict(patient: DicomPatient, who: Identity) -> tuple[str, tuple[str, ...]]:
    """(verdict, fields that name someone else) for the identity of one or more files."""
    forms = _matchers(who).forms
    name = dicom_name_state(patient.name_groups, forms)
    if name != "match" and dicom_name_state(patient.other_name_groups, forms) == "match":
        name = "match"  # OtherPatientNames: a maiden name, an earlier spelling
    dob_text = who.date_of_birth.strftime("%Y%m%d")
    dob = patient.birth_date
    dob_valid = (
        len(dob) == 8
        and dob.isdigit()
        and _make(int(dob[:4]), int(dob[4:6]), int(dob[6:])) is not None
    )
    dob_ok = dob == dob_text
    dob_bad = dob_valid and not dob_ok
    pid = _norm_id(patient.patient_id) if patient.patient_id else ""
    keys = _matchers(who).mrn_keys
    id_ok = (bool(pid) and pid in keys) or any(_norm_id(o) in keys for o in patient.other_ids)
    id_unknown = bool(pid) and not id_ok
    fields: list[str] = []
    if name == "other":
        fields.append("PatientName")
    if dob_bad:
        fields.append("PatientBirthDate")
    if fields and id_unknown:
        # An ID from an imaging centre the case does not list is not, alone, a mismatch
        # (nor beside an empty name: anonymisers replace it); beside another name or
        # birth date it is one of the fields that name someone else.
        fields.append("PatientID")
    if fields:
        return "mismatch", tuple(fields)
    if name == "match" and (dob_ok or id_ok):
        return "match", ()
    if name in ("partial", "none") and dob_ok and id_ok:
        return "match", ()
    if name in ("match", "partial") or dob_ok or id_ok:
        return "weak", ()
    return "none", ()


def dicom_evidence(folder: DicomFolder, who: Identity) -> DicomEvidence:
    """Judge every file of a DICOM folder on its own: one matching file never vouches for
    its neighbours."""
    mismatched: list[str] = []
    unverified: list[str] = []
    fields: dict[str, None] = {}
    matched = 0
    for patient, files in folder.patients.items():
        verdict, why = dicom_patient_verdict(patient, who)
        if verdict == "mismatch":
            mismatched.extend(files)
            fields.update(dict.fromkeys(why))
        elif verdict == "match":
            matched += len(files)
        else:
            unverified.extend(files)
    order = ("PatientName", "PatientID", "PatientBirthDate")
    kept = tuple(f for f in order if f in fields)
    if mismatched:
        verdict = "mismatch"
    elif not unverified:
        verdict = "match" if matched else "none"
    else:
        weak = any(dicom_patient_verdict(p, who)[0] == "weak" for p in folder.patients) or matched
        verdict = "weak" if weak else "none"
    return DicomEvidence(verdict, tuple(sorted(mismatched)), kept, tuple(sorted(unverified)))

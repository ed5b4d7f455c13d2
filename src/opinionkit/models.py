"""Pydantic models of the case file (PRODUCT.md section 3). No I/O here.

The YAML loader hands every scalar over as the exact text that was typed (or ``None``),
and pydantic's lax mode turns text into numbers, booleans and dates where a field asks for
them. So identifiers stay exactly as typed: ``mrn: 00123`` is ``"00123"``, ``NO`` is ``"NO"``.
Dates must be ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        return value.strip()
    raise ValueError("expected a date written as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def _relative_path(value: str) -> str:
    # Only the shape is checked here; where the path leads is checked against the disk later.
    if "\x00" in value:
        raise ValueError("a file path cannot contain a NUL character")
    return value


RelPath = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
    AfterValidator(_relative_path),
]


class Model(BaseModel):
    """Base of every case-file model: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --- people -------------------------------------------------------------------------------


class Sex(str, Enum):
    FEMALE = "female"
    MALE = "male"
    INTERSEX = "intersex"
    OTHER = "other"
    UNKNOWN = "unknown"


class Mrn(Model):
    institution: Short
    mrn: Identifier


class Patient(Model):
    name: Short = Field(description="Legal name as it appears on the records.")
    preferred_name: Short | None = None
    other_names: list[Short] = Field(
        default_factory=list,
        description="The name in another script (王小明), a maiden name, an alias: records "
        "naming the patient so are matched as the patient's.",
    )
    date_of_birth: IsoDate
    sex: Sex | None = None
    address: Text | None = None
    phone: Short | None = None
    email: Short | None = None
    mrns: list[Mrn] = Field(
        default_factory=list, description="Medical record numbers per institution."
    )
    preferred_language: Short | None = None
    interpreter_needed: bool | None = None


class Guardian(Model):
    name: Short
    relationship: Short
    date_of_birth: IsoDate | None = Field(
        default=None,
        description="A record showing this date (e.g. on a release form) is not another patient's.",
    )
    phone: Short | None = None
    email: Short | None = None
    address: Text | None = None
    legal_authority: bool | None = Field(
        default=None, description="Holds legal authority to consent for the patient."
    )


class Contact(Model):
    name: Short
    role: Short | None = None
    facility: Short | None = None
    phone: Short | None = None
    fax: Short | None = None
    email: Short | None = None
    address: Text | None = None


class CareTeam(Model):
    treating_oncologist: Contact
    others: list[Contact] = Field(default_factory=list)


class ReviewType(str, Enum):
    RECORDS_ONLY = "records-only"
    VIDEO = "video"
    IN_PERSON = "in-person"


_GROUPED = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")


def _quantity(value: Any) -> Any:
    # `dose: 2,400,000` (digits grouped by commas) is the number it reads as; the loader
    # hands over the text as typed, so 0.000075 stays exactly 0.000075 (a Decimal).
    if isinstance(value, str) and _GROUPED.match(value.strip()):
        return value.strip().replace(",", "")
    return value


Quantity = Annotated[Decimal, BeforeValidator(_quantity), Field(gt=0, allow_inf_nan=False)]


class Fee(Model):
    amount: Quantity
    currency: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
    ] = Field(description="ISO 4217 code, e.g. USD, EUR.")


class VideoConsultation(Model):
    requested: bool = False
    fee: Fee | None = None


class Recipient(Model):
    name: Short | None = Field(
        default=None, description="Doctor or programme asked for the opinion."
    )
    facility: Short | None = None
    address: Text | None = None
    phone: Short | None = None
    fax: Short | None = None
    email: Short | None = None
    review_type: ReviewType = ReviewType.RECORDS_ONLY
    fee: Fee | None = Field(default=None, description="What the programme charges for the review.")
    turnaround_business_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Business days from the packet's arrival to the opinion.",
    )
    video_consultation: VideoConsultation | None = None

    @model_validator(mode="after")
    def _someone(self) -> Recipient:
        if self.name is None and self.facility is None:
            raise ValueError("give the recipient's name or facility")
        return self


class Coverage(str, Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def _coverage(value: Any) -> Any:
    # YAML 1.1 habits: `covered: yes` / `no` arrive as text; true/false also accepted.
    if isinstance(value, str):
        v = value.strip().lower()
        return {"true": "yes", "false": "no"}.get(v, v)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


CoverageAnswer = Annotated[Coverage, BeforeValidator(_coverage)]


class Insurance(Model):
    payer: Short
    plan: Short | None = None
    member_id: Identifier | None = None
    group_id: Identifier | None = None
    second_opinion_covered: CoverageAnswer = Coverage.UNKNOWN
    in_person_covered: CoverageAnswer | None = Field(
        default=None, description="Whether an in-person second opinion is covered."
    )
    remote_covered: CoverageAnswer | None = Field(
        default=None, description="Whether a remote (records or video) opinion is covered."
    )
    authorization_number: Identifier | None = None


class Reason(str, Enum):
    CONFIRM_DIAGNOSIS = "confirm-diagnosis"
    RARE_CANCER = "rare-cancer"
    EXPLORE_OPTIONS = "explore-options"
    UNCLEAR_TYPE_OR_STAGE = "unclear-type-or-stage"
    CHOOSE_BETWEEN_OPTIONS = "choose-between-options"
    INSURER_REQUIRES = "insurer-requires"
    COMMUNICATION_DIFFICULTY = "communication-difficulty"
    OTHER = "other"


class Request(Model):
    reasons: list[Reason] = Field(default_factory=list)
    other_reason: Text | None = Field(
        default=None, description="The reason in words, when reasons lists other."
    )
    primary_question: Text | None = Field(
        default=None, description="The one specific question for the reviewers."
    )
    questions: list[Text] = Field(default_factory=list, description="Further questions.")

    @property
    def all_questions(self) -> list[str]:
        return ([self.primary_question] if self.primary_question else []) + list(self.questions)


# --- diagnosis ----------------------------------------------------------------------------


class Stage(Model):
    system: Short | None = Field(default=None, description="e.g. AJCC TNM, FIGO, INSS, COG risk")
    edition: Short | None = None
    t: Short | None = None
    n: Short | None = None
    m: Short | None = None
    group: Short | None = Field(default=None, description="Stage group, e.g. IIIA")
    risk_group: Short | None = Field(default=None, description="Paediatric risk group")


class BiomarkerMethod(str, Enum):
    IHC = "IHC"
    FISH = "FISH"
    NGS = "NGS"
    PCR = "PCR"
    FLOW_CYTOMETRY = "flow-cytometry"
    KARYOTYPE = "karyotype"
    OTHER = "other"


def _method(value: Any) -> Any:
    if isinstance(value, str):
        typed = " ".join(value.replace("-", " ").lower().split())  # "flow cytometry" too
        for m in BiomarkerMethod:
            if m.value.lower().replace("-", " ") == typed:
                return m.value
    return value


class Biomarker(Model):
    name: Short
    result: Short
    method: Annotated[BiomarkerMethod, BeforeValidator(_method)] | None = None
    date: IsoDate | None = None


class Symptom(Model):
    description: Short
    onset: IsoDate | None = None


class PerformanceScale(str, Enum):
    ECOG = "ECOG"
    KARNOFSKY = "Karnofsky"
    LANSKY = "Lansky"


class PerformanceStatus(Model):
    scale: PerformanceScale
    score: int
    date: IsoDate | None = None

    @model_validator(mode="after")
    def _range(self) -> PerformanceStatus:
        top = 5 if self.scale is PerformanceScale.ECOG else 100
        if not 0 <= self.score <= top:
            raise ValueError(f"a {self.scale.value} score lies between 0 and {top}")
        return self


class Diagnosis(Model):
    cancer_type: Short
    primary_site: Short | None = None
    histology: Short | None = None
    date: IsoDate | None = Field(default=None, description="Date of diagnosis.")
    stage: Stage | None = None
    grade: Short | None = None
    biomarkers: list[Biomarker] = Field(default_factory=list)
    symptoms: list[Symptom] = Field(default_factory=list)
    performance_status: PerformanceStatus | None = None


# --- treatment ----------------------------------------------------------------------------


class SystemicTherapy(Model):
    regimen: Short
    start: IsoDate | None = None
    end: IsoDate | None = None
    cycles: int | None = Field(default=None, ge=0, le=1000)
    response: Short | None = None
    intent: Short | None = None


class Radiation(Model):
    site: Short
    dose_gy: float | None = Field(default=None, gt=0, le=200, description="Total dose in Gy.")
    fractions: int | None = Field(default=None, gt=0, le=200)
    start: IsoDate | None = None
    end: IsoDate | None = None


class Surgery(Model):
    procedure: Short
    date: IsoDate | None = None
    facility: Short | None = None


class Treatment(Model):
    plan: Text | None = Field(default=None, description="Summary of the current treatment plan.")
    systemic: list[SystemicTherapy] = Field(default_factory=list)
    radiation: list[Radiation] = Field(default_factory=list)
    surgery: list[Surgery] = Field(default_factory=list)


class Medication(Model):
    name: Short
    dose: Quantity | None = None
    unit: Short | None = None
    route: Short | None = None
    frequency: Short | None = None
    timing: Short | None = Field(
        default=None, description="When they take it, e.g. 'with breakfast'."
    )
    start: IsoDate | None = None
    notes: Text | None = None


class Allergy(Model):
    substance: Short
    reaction: Short | None = None


def _none_or_list(value: Any) -> Any:
    # `medications: none` (any case) is an explicit "takes nothing", distinct from omitting the key.
    if isinstance(value, str) and value.strip().lower() == "none":
        return "none"
    return value


def _allergy_item(value: Any) -> Any:
    return {"substance": value} if isinstance(value, str) else value


# --- records ------------------------------------------------------------------------------


class RecordKind(str, Enum):
    """Kinds of record, in the order reviewers read them (pathology first)."""

    PATHOLOGY_REPORT = "pathology-report"
    GENOMIC_REPORT = "genomic-report"
    IMAGING_REPORT = "imaging-report"
    IMAGING_STUDY = "imaging-study"
    LAB_REPORT = "lab-report"
    OPERATIVE_REPORT = "operative-report"
    RADIATION_SUMMARY = "radiation-summary"
    CONSULTATION_LETTER = "consultation-letter"
    TREATMENT_PLAN = "treatment-plan"
    DISCHARGE_SUMMARY = "discharge-summary"
    RELEASE_AUTHORIZATION = "release-authorization"
    INSURANCE_CARD = "insurance-card"
    SECOND_OPINION_REPORT = "second-opinion-report"
    OTHER = "other"

    @property
    def heading(self) -> str:
        """The category heading used in the packet, e.g. "Pathology reports"."""
        return _KIND_TITLES[self]

    @property
    def order(self) -> int:
        return list(RecordKind).index(self)


_KIND_TITLES = {
    RecordKind.PATHOLOGY_REPORT: "Pathology",
    RecordKind.GENOMIC_REPORT: "Genomic and molecular",
    RecordKind.IMAGING_REPORT: "Imaging reports",
    RecordKind.IMAGING_STUDY: "Imaging studies",
    RecordKind.LAB_REPORT: "Laboratory",
    RecordKind.OPERATIVE_REPORT: "Operative reports",
    RecordKind.RADIATION_SUMMARY: "Radiation summaries",
    RecordKind.CONSULTATION_LETTER: "Oncology consultations",
    RecordKind.TREATMENT_PLAN: "Treatment plans and flow sheets",
    RecordKind.DISCHARGE_SUMMARY: "Discharge summaries",
    RecordKind.RELEASE_AUTHORIZATION: "Release authorisation",
    RecordKind.INSURANCE_CARD: "Insurance",
    RecordKind.SECOND_OPINION_REPORT: "Second-opinion reports",
    RecordKind.OTHER: "Other records",
}


_PAGE_RANGE = re.compile(r"^\s*(\d{1,6})\s*[-\u2013]\s*(\d{1,6})\s*$")


def _page_item(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a page number or a range such as 5-6")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("page numbers start at 1")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _page_item(int(text))
        m = _PAGE_RANGE.match(text)
        if m and 1 <= int(m.group(1)) <= int(m.group(2)):
            return text
    raise ValueError("expected a page number or a range such as 5-6 (first page 1)")


PageItem = Annotated[int | str, BeforeValidator(_page_item)]


class Withhold(Model):
    """Pages of a record (or files of an imaging study's folder) left out of the packet,
    and why (recorded in the manifest)."""

    pages: list[PageItem] = Field(
        default_factory=list, description='Page numbers or ranges: [2, "5-6"].'
    )
    files: list[RelPath] = Field(
        default_factory=list,
        description="For an imaging study: files inside its folder, relative to the folder.",
    )
    reason: Short = Field(description="Why they are left out (e.g. another patient's page).")

    @model_validator(mode="after")
    def _something(self) -> Withhold:
        if not self.pages and not self.files:
            raise ValueError("name the pages (or, for an imaging study, the files) to withhold")
        return self

    @property
    def page_set(self) -> frozenset[int]:
        out: set[int] = set()
        for item in self.pages:
            if isinstance(item, int):
                out.add(item)
            else:
                m = _PAGE_RANGE.match(item)
                assert m is not None
                out.update(range(int(m.group(1)), int(m.group(2)) + 1))
        return frozenset(out)


class RecordStatus(str, Enum):
    RECEIVED = "received"
    REQUESTED = "requested"


class Record(Model):
    id: Identifier | None = Field(
        default=None,
        description="Optional short name, used to pair an imaging study with its report.",
    )
    kind: RecordKind
    title: Short
    date: IsoDate | None = None
    source: Short | None = Field(default=None, description="Facility the record comes from.")
    file: RelPath | None = Field(
        default=None, description="PDF or scanned image, relative to the case file."
    )
    files: list[RelPath] | None = Field(
        default=None, description="Several scanned page images making one record, in order."
    )
    folder: RelPath | None = Field(default=None, description="DICOM folder (imaging studies).")
    password_env: Annotated[str, StringConstraints(strip_whitespace=True)] | None = Field(
        default=None,
        description="Name of the environment variable holding the PDF's password (never the password).",
    )
    language: Short | None = Field(default=None, description="Language of the record, e.g. en, es.")
    translation: RelPath | None = Field(
        default=None, description="File with an English translation."
    )
    report: Identifier | None = Field(
        default=None, description="For an imaging study: the id of its imaging report."
    )
    modality: Short | None = None
    status: RecordStatus = RecordStatus.RECEIVED
    withhold: Withhold | None = Field(
        default=None,
        description="Pages of the record (numbered across its files) left out of the packet.",
    )
    identity_confirmed: Short | None = Field(
        default=None,
        description="Who checked that the record is the patient's, and how: accepts a record "
        "whose identity the tool cannot verify (never one that names another patient).",
    )
    requested: IsoDate | None = Field(
        default=None, description="Date the record was asked for (status: requested)."
    )

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(
                "password_env names an environment variable (letters, digits, _), not the password"
            )
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Record:
        given = [k for k in ("file", "files", "folder") if getattr(self, k)]
        if self.status is RecordStatus.REQUESTED and not given:
            return self
        if len(given) != 1:
            raise ValueError("give exactly one of file, files or folder")
        if self.kind is RecordKind.IMAGING_STUDY and given[0] == "files":
            raise ValueError("an imaging study is a DICOM folder or file, not a list of images")
        if self.withhold is not None:
            imaging = self.kind is RecordKind.IMAGING_STUDY
            if imaging and self.withhold.pages:
                raise ValueError("an imaging study has no pages: withhold its files: instead")
            if not imaging and self.withhold.files:
                raise ValueError("withhold: files: is for imaging studies; name pages: here")
        return self

    @property
    def paths(self) -> list[str]:
        if self.file:
            return [self.file]
        if self.files:
            return list(self.files)
        if self.folder:
            return [self.folder]
        return []


class MaterialKind(str, Enum):
    SLIDES = "slides"
    BLOCKS = "blocks"
    DIGITAL_SLIDES = "digital-slides"
    IMAGING_CD = "imaging-cd"
    OTHER = "other"


class PhysicalMaterial(Model):
    kind: MaterialKind
    description: Short | None = None
    accession_numbers: list[Identifier] = Field(default_factory=list)
    count: int | None = Field(default=None, ge=0, le=10000)
    stain: Short | None = None
    source: Short | None = None
    carrier: Short | None = None
    tracking_number: Identifier | None = None
    shipped: IsoDate | None = None


class SignerRole(str, Enum):
    PATIENT = "patient"
    GUARDIAN = "guardian"
    REFERRING_DOCTOR = "referring-doctor"


class Sender(Model):
    role: SignerRole = SignerRole.PATIENT
    name: Short | None = Field(
        default=None, description="Defaults to the patient, guardian or oncologist."
    )


# --- the opinion received -----------------------------------------------------------------


class Agreement(str, Enum):
    YES = "yes"
    NO = "no"
    PARTLY = "partly"


def _agreement(value: Any) -> Any:
    # `agrees_with_plan: yes` arrives as text; true/false and "partially" are accepted too.
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        v = value.strip().lower()
        return {"true": "yes", "false": "no", "partial": "partly", "partially": "partly"}.get(v, v)
    return value


AgreementAnswer = Annotated[Agreement, BeforeValidator(_agreement)]


class OpinionReviewType(str, Enum):
    WRITTEN = "written"
    VIDEO = "video"
    IN_PERSON = "in-person"


def _opinion_review_type(value: Any) -> Any:
    # The recipient's words for the same thing: a records-only review comes back written.
    if isinstance(value, str):
        v = " ".join(value.strip().lower().replace("-", " ").split())
        return {"records only": "written", "in person": "in-person"}.get(v, v)
    return value


_TRIAL_ID = re.compile(r"^[A-Z]{2,}[A-Z0-9-]*\d{4,}$")


def _trial_item(value: Any) -> Any:
    # `trials: [NCT01234567]` or `[a trial's title]`: a registry id, else a title.
    if isinstance(value, str):
        text = value.strip()
        return {"id": text} if _TRIAL_ID.match(text) else {"title": text}
    return value


class Trial(Model):
    id: Identifier | None = Field(default=None, description="Registry id, e.g. NCT01234567.")
    title: Short | None = None
    where: Short | None = Field(default=None, description="Where the trial enrols.")

    @model_validator(mode="after")
    def _named(self) -> Trial:
        if self.id is None and self.title is None:
            raise ValueError("give the trial's id or title")
        return self


class Opinion(Model):
    """A second opinion received (PRODUCT.md section 9)."""

    doctor: Short | None = None
    institution: Short | None = None
    received: IsoDate | None = Field(default=None, description="Date the opinion arrived.")
    review_type: Annotated[OpinionReviewType, BeforeValidator(_opinion_review_type)] = (
        OpinionReviewType.WRITTEN
    )
    report: Identifier | None = Field(
        default=None, description="The id of the second-opinion-report record (the written review)."
    )
    diagnosis: Text | None = Field(
        default=None, description="The diagnosis as the reviewer sees it."
    )
    stage: Stage | Short | None = Field(
        default=None, description="The stage as the reviewer sees it."
    )
    agrees_with_diagnosis: AgreementAnswer | None = None
    agrees_with_plan: AgreementAnswer | None = None
    recommended_plan: Text | None = None
    rationale: Text | None = None
    pathology_review: Text | None = Field(
        default=None, description="What the re-review of the slides found."
    )
    imaging_review: Text | None = Field(
        default=None, description="What the re-read of the imaging found."
    )
    trials: list[Annotated[Trial, BeforeValidator(_trial_item)]] = Field(default_factory=list)
    answer: Text | None = Field(default=None, description="The answer to the primary question.")
    follow_up: Text | None = None

    @model_validator(mode="after")
    def _someone(self) -> Opinion:
        if self.doctor is None and self.institution is None:
            raise ValueError("give the reviewing doctor or institution")
        return self

    @property
    def by(self) -> str:
        """ "Dr. X, Institution", or whichever of them is given."""
        return ", ".join(x for x in (self.doctor, self.institution) if x)


# --- the case -----------------------------------------------------------------------------

MedicationList = Annotated[list[Medication] | Literal["none"], BeforeValidator(_none_or_list)]
AllergyList = Annotated[
    list[Annotated[Allergy, BeforeValidator(_allergy_item)]] | Literal["none"],
    BeforeValidator(_none_or_list),
]


class Case(Model):
    schema_version: int = Field(
        default=SCHEMA_VERSION, description="Version of the case-file format."
    )
    case_id: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
    ] = Field(description="Short id used in file names and page stamps; never the patient's name.")
    profile: Identifier | None = Field(default=None, description="adult-general, paediatric, ...")
    prepared: IsoDate | None = Field(
        default=None, description="Date of the packet; fixes dates in the output."
    )
    patient: Patient
    guardians: list[Guardian] = Field(default_factory=list)
    insurance: Insurance | None = None
    care_team: CareTeam
    recipient: Recipient | None = None
    request: Request = Field(default_factory=Request)
    diagnosis: Diagnosis
    treatment: Treatment = Field(default_factory=Treatment)
    medications: MedicationList | None = None
    allergies: AllergyList | None = None
    records: list[Record] = Field(default_factory=list)
    physical_materials: list[PhysicalMaterial] = Field(default_factory=list)
    sender: Sender = Field(default_factory=Sender)
    sent: IsoDate | None = Field(
        default=None, description="Date the packet went to the recipient (starts the clock)."
    )
    opinions: list[Opinion] = Field(default_factory=list, description="Second opinions received.")

    @field_validator("records", "guardians", "physical_materials", "opinions", mode="before")
    @classmethod
    def _empty_list(cls, v: Any) -> Any:
        # `records:` with only commented examples under it (as `opinionkit init` writes)
        return [] if v is None else v

    @field_validator("schema_version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"this opinionkit reads schema_version {SCHEMA_VERSION}")
        return v

    def age_on(self, day: date) -> int:
        b = self.patient.date_of_birth
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def signing_guardian(self) -> Guardian | None:
        """The guardian who signs: the one ``sender.name`` names (None when it names no
        listed guardian), else the first with legal authority, else the first listed."""
        if not self.guardians:
            return None
        if self.sender.name:
            wanted = " ".join(self.sender.name.casefold().split())
            return next(
                (g for g in self.guardians if " ".join(g.name.casefold().split()) == wanted),
                None,
            )
        return next((g for g in self.guardians if g.legal_authority), self.guardians[0])

    @property
    def medication_list(self) -> list[Medication]:
        return self.medications if isinstance(self.medications, list) else []

    @property
    def allergy_list(self) -> list[Allergy]:
        return self.allergies if isinstance(self.allergies, list) else []

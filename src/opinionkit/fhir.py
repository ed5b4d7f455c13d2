"""`export --fhir`: the case as a FHIR R4 collection Bundle shaped after mCODE.

Resources: Patient (mCODE CancerPatient), the primary cancer Condition, Observations for
the stage group (with T, N and M members), tumour markers and performance status,
MedicationStatements (current medicines and systemic therapy), Procedures (surgery and
radiotherapy courses), and a DocumentReference per received record carrying its SHA-256,
size, page count and — given a bundle's manifest — its page range in the packet.

Every resource id is a UUID derived from the case id and the resource's place in the
case, so the same case exports the same bundle. Codes are given as text (and LOINC where
mCODE names one); nothing is invented that the case file does not say.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from opinionkit.check import CaseResult, UsableCase, check_case, is_placeholder
from opinionkit.checks.files import FileInfo
from opinionkit.errors import ExitCode, InputError, OpinionkitError
from opinionkit.inspect.filetype import FileKind
from opinionkit.models import Case, RecordStatus, Sex
from opinionkit.options import ExportOptions
from opinionkit.output import check_output_file
from opinionkit.pdf.atomic import atomic_write
from opinionkit.render.templating import plain_number

MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
LOINC = "http://loinc.org"
EXT = "https://opinionkit.invalid/fhir/StructureDefinition/"
_NS = uuid.UUID("7d1b8a2e-4f3c-5e6d-9a8b-0c1d2e3f4a5b")

CONTENT_TYPES = {
    FileKind.PDF: "application/pdf",
    FileKind.JPEG: "image/jpeg",
    FileKind.PNG: "image/png",
    FileKind.TIFF: "image/tiff",
}


class _Builder:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.entries: list[dict[str, Any]] = []

    def rid(self, key: str) -> str:
        return str(uuid.uuid5(_NS, f"{self.case.case_id}/{key}"))

    def add(self, key: str, resource: dict[str, Any]) -> str:
        rid = self.rid(key)
        resource = {"resourceType": resource.pop("resourceType"), "id": rid, **resource}
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource})
        return f"urn:uuid:{rid}"


def _json_number(value: Decimal) -> int | float:
    """A FHIR decimal as a JSON number (exact for the doses people type)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _text(value: str) -> dict[str, Any]:
    return {"text": value}


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _split_name(name: str) -> dict[str, Any]:
    parts = name.split()
    out: dict[str, Any] = {"use": "official", "text": name}
    if len(parts) > 1:
        out["family"] = parts[-1]
        out["given"] = parts[:-1]
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def _patient(b: _Builder) -> str:
    p = b.case.patient
    gender = (
        {
            Sex.FEMALE: "female",
            Sex.MALE: "male",
            Sex.INTERSEX: "other",
            Sex.OTHER: "other",
            Sex.UNKNOWN: "unknown",
        }.get(p.sex)
        if p.sex
        else None
    )
    res: dict[str, Any] = {
        "resourceType": "Patient",
        "meta": {"profile": [MCODE + "mcode-cancer-patient"]},
        "identifier": [
            {
                "use": "usual",
                "type": _text("Medical record number"),
                "system": f"urn:opinionkit:mrn:{_slug(m.institution)}",
                "value": m.mrn,
                "assigner": {"display": m.institution},
            }
            for m in p.mrns
        ],
        "name": [_split_name(p.name)],
        "birthDate": p.date_of_birth.isoformat(),
    }
    if gender:
        res["gender"] = gender
    telecom = [{"system": "phone", "value": p.phone}] if p.phone else []
    telecom += [{"system": "email", "value": p.email}] if p.email else []
    if telecom:
        res["telecom"] = telecom
    if p.address:
        res["address"] = [{"text": p.address}]
    if p.preferred_language:
        res["communication"] = [{"language": _text(p.preferred_language), "preferred": True}]
    if b.case.guardians:
        res["contact"] = [
            {
                "relationship": [_text(g.relationship)],
                "name": _split_name(g.name),
                **({"telecom": [{"system": "phone", "value": g.phone}]} if g.phone else {}),
            }
            for g in b.case.guardians
        ]
    return b.add("patient", res)


def _condition(b: _Builder, patient: str) -> str:
    d = b.case.diagnosis
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": _text(d.cancer_type + (f" — {d.histology}" if d.histology else "")),
        "subject": {"reference": patient},
    }
    if d.primary_site:
        res["bodySite"] = [_text(d.primary_site)]
    if d.date:
        res["onsetDateTime"] = d.date.isoformat()
        res["recordedDate"] = d.date.isoformat()
    if d.symptoms:
        res["evidence"] = [{"code": [_text(s.description)]} for s in d.symptoms]
    return b.add("condition", res)


def _observation(
    b: _Builder,
    key: str,
    patient: str,
    code: dict[str, Any],
    profile: str | None = None,
    **fields: Any,
) -> str:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": code,
        "subject": {"reference": patient},
        **fields,
    }
    if profile:
        res = {
            "resourceType": "Observation",
            "meta": {"profile": [MCODE + profile]},
            **{k: v for k, v in res.items() if k != "resourceType"},
        }
    return b.add(key, res)


def _stage(b: _Builder, patient: str, condition: str) -> None:
    st = b.case.diagnosis.stage
    if st is None:
        return
    members = []
    for part, code, name, profile in (
        (
            st.t,
            "21905-5",
            "Primary tumor.clinical [Class] Cancer",
            "mcode-tnm-primary-tumor-category",
        ),
        (
            st.n,
            "21906-3",
            "Regional lymph nodes.clinical [Class] Cancer",
            "mcode-tnm-regional-nodes-category",
        ),
        (
            st.m,
            "21907-1",
            "Distant metastases.clinical [Class] Cancer",
            "mcode-tnm-distant-metastases-category",
        ),
    ):
        if part:
            ref = _observation(
                b,
                f"stage/{code}",
                patient,
                _loinc(code, name),
                profile,
                focus=[{"reference": condition}],
                valueCodeableConcept=_text(part),
            )
            members.append({"reference": ref})
    value = st.group or st.risk_group
    if value or members:
        method = " ".join(
            x for x in (st.system, f"{st.edition} edition" if st.edition else None) if x
        )
        fields: dict[str, Any] = {"focus": [{"reference": condition}]}
        if value:
            fields["valueCodeableConcept"] = _text(value)
        if method:
            fields["method"] = _text(method)
        if members:
            fields["hasMember"] = members
        _observation(
            b,
            "stage/group",
            patient,
            _loinc("21908-9", "Stage group.clinical Cancer"),
            "mcode-tnm-stage-group",
            **fields,
        )


def _markers(b: _Builder, patient: str, condition: str) -> None:
    d = b.case.diagnosis
    for i, m in enumerate(d.biomarkers):
        fields: dict[str, Any] = {
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "focus": [{"reference": condition}],
            "valueCodeableConcept": _text(m.result),
        }
        if m.method:
            fields["method"] = _text(m.method.value)
        if m.date:
            fields["effectiveDateTime"] = m.date.isoformat()
        _observation(b, f"marker/{i}", patient, _text(m.name), "mcode-tumor-marker-test", **fields)
    ps = d.performance_status
    if ps is not None:
        code = {
            "ECOG": _loinc("89247-1", "ECOG Performance Status score"),
            "Karnofsky": _loinc("89243-0", "Karnofsky Performance Status score"),
        }.get(ps.scale.value, _text(f"{ps.scale.value} performance status"))
        fields = {"valueInteger": ps.score}
        if ps.date:
            fields["effectiveDateTime"] = ps.date.isoformat()
        profile = {
            "ECOG": "mcode-ecog-performance-status",
            "Karnofsky": "mcode-karnofsky-performance-status",
        }.get(ps.scale.value)
        _observation(b, "performance", patient, code, profile, **fields)


def _medications(b: _Builder, patient: str, condition: str) -> None:
    for i, m in enumerate(b.case.medication_list):
        dosage: dict[str, Any] = {
            "text": " ".join(
                x
                for x in (
                    f"{plain_number(m.dose)} {m.unit or ''}".strip() if m.dose else None,
                    m.route,
                    m.frequency,
                    m.timing,
                )
                if x
            )
            or m.name
        }
        if m.route:
            dosage["route"] = _text(m.route)
        if m.frequency or m.timing:
            dosage["timing"] = {"code": _text(", ".join(x for x in (m.frequency, m.timing) if x))}
        if m.dose:
            quantity: dict[str, Any] = {"value": _json_number(m.dose)}
            if m.unit:
                quantity["unit"] = m.unit
            dosage["doseAndRate"] = [{"doseQuantity": quantity}]
        res: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": _text(m.name),
            "subject": {"reference": patient},
            "dosage": [dosage],
        }
        if m.start:
            res["effectivePeriod"] = {"start": m.start.isoformat()}
        b.add(f"medication/{i}", res)
    for i, t in enumerate(b.case.treatment.systemic):
        res = {
            "resourceType": "MedicationStatement",
            "status": "completed" if t.end else "active",
            "category": _text("cancer-related systemic therapy"),
            "medicationCodeableConcept": _text(t.regimen),
            "subject": {"reference": patient},
            "reasonReference": [{"reference": condition}],
        }
        period = {k: v.isoformat() for k, v in (("start", t.start), ("end", t.end)) if v}
        if period:
            res["effectivePeriod"] = period
        notes = [
            x
            for x in (
                f"{t.cycles} cycles" if t.cycles else None,
                f"response: {t.response}" if t.response else None,
                f"intent: {t.intent}" if t.intent else None,
            )
            if x
        ]
        if notes:
            res["note"] = [{"text": "; ".join(notes)}]
        b.add(f"systemic/{i}", res)


def _procedures(b: _Builder, patient: str, condition: str) -> None:
    for i, s in enumerate(b.case.treatment.surgery):
        res: dict[str, Any] = {
            "resourceType": "Procedure",
            "meta": {"profile": [MCODE + "mcode-cancer-related-surgical-procedure"]},
            "status": "completed",
            "code": _text(s.procedure),
            "subject": {"reference": patient},
            "reasonReference": [{"reference": condition}],
        }
        if s.date:
            res["performedDateTime"] = s.date.isoformat()
        if s.facility:
            res["location"] = {"display": s.facility}
        b.add(f"surgery/{i}", res)
    for i, r in enumerate(b.case.treatment.radiation):
        res = {
            "resourceType": "Procedure",
            "meta": {"profile": [MCODE + "mcode-radiotherapy-course-summary"]},
            "status": "completed" if r.end else "in-progress",
            "code": _text("Radiotherapy course of treatment"),
            "subject": {"reference": patient},
            "bodySite": [_text(r.site)],
            "reasonReference": [{"reference": condition}],
        }
        period = {k: v.isoformat() for k, v in (("start", r.start), ("end", r.end)) if v}
        if period:
            res["performedPeriod"] = period
        ext: list[dict[str, Any]] = []
        if r.dose_gy is not None:
            ext.append(
                {
                    "url": EXT + "total-dose",
                    "valueQuantity": {
                        "value": r.dose_gy,
                        "unit": "Gy",
                        "system": "http://unitsofmeasure.org",
                        "code": "Gy",
                    },
                }
            )
        if r.fractions is not None:
            ext.append({"url": EXT + "fractions", "valueUnsignedInt": r.fractions})
        if ext:
            res["extension"] = ext
        b.add(f"radiation/{i}", res)


def _documents(
    b: _Builder, patient: str, checked: CaseResult, manifest: dict[str, Any] | None
) -> None:
    """A DocumentReference per received record with a usable file: what ``check``
    withheld (another patient's, unreadable ...) is never exported. Its usable
    translation is a second attachment (language ``en``)."""
    ranges: dict[tuple[int, str], tuple[list[int], int]] = {}
    for item in (manifest or {}).get("inputs", []):
        ranges[(item["record"], item["path"])] = (item["pages"], item.get("volume", 1))
    for info in checked.records:
        rec = info.record
        if rec.status is not RecordStatus.RECEIVED or not any(f.usable for f in info.files):
            continue
        contents = []
        for f in info.all_files:
            if not f.usable or f.path is None:
                continue
            attachment: dict[str, Any] = {"title": f.rel, "url": f.rel}
            ext: list[dict[str, Any]] = []
            if f.dicom is not None:
                attachment["contentType"] = "application/dicom"
                known = {x for study in f.dicom.studies.values() for x in study.files}
                kept = len(known - set(f.withheld_files))  # foreign files are not copied
                ext.append({"url": EXT + "dicom-files", "valueUnsignedInt": kept})
            else:
                attachment["contentType"] = CONTENT_TYPES.get(
                    f.kind or FileKind.UNKNOWN, "application/octet-stream"
                )
                attachment["size"] = f.size
                data_sha1 = hashlib.sha1(f.path.read_bytes()).digest()
                attachment["hash"] = base64.b64encode(data_sha1).decode()
                if f.sha256:
                    ext.append({"url": EXT + "sha256", "valueString": f.sha256})
                ext.append({"url": EXT + "page-count", "valueUnsignedInt": f.pages})
                for page in sorted(f.withheld_pages):  # the record's withhold: (not in the packet)
                    ext.append({"url": EXT + "withheld-page", "valueUnsignedInt": page})
                found = ranges.get((info.index, f.rel))
                if found:
                    (first, last), volume = found
                    ext.append(
                        {
                            "url": EXT + "packet-pages",
                            "valueRange": {"low": {"value": first}, "high": {"value": last}},
                        }
                    )
                    ext.append({"url": EXT + "packet-volume", "valueUnsignedInt": volume})
            if ext:
                attachment["extension"] = ext
            if f is info.translation:
                attachment["language"] = "en"
            contents.append({"attachment": attachment})
        if not contents:
            continue
        res: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": _text(rec.kind.heading),
            "category": [_text(rec.kind.value)],
            "subject": {"reference": patient},
            "description": rec.title,
            "content": contents,
        }
        if rec.date:
            res["context"] = {"period": {"start": rec.date.isoformat()}}
        if rec.source:
            res["custodian"] = {"display": rec.source}
        if rec.language:
            res["content"][0]["attachment"]["language"] = rec.language
        b.add(f"record/{info.index}", res)


_ABSENT = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "unknown",
        }
    ]
}


def _without_placeholders(value: Any) -> Any:
    """``value`` with every TODO placeholder left out: a placeholder string is dropped
    (from a mapping or a list); an element left empty says its data is absent
    (FHIR's data-absent-reason), so that what is required stays present."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if is_placeholder(v):
                continue
            cleaned = _without_placeholders(v)
            if isinstance(v, list) and v and not cleaned:
                continue  # a list of placeholders only
            out[k] = dict(_ABSENT) if isinstance(v, dict) and v and not cleaned else cleaned
        return out
    if isinstance(value, list):
        return [_without_placeholders(v) for v in value if not is_placeholder(v)]
    return value


class ExportRefused(OpinionkitError):
    """`export` will not export a case with errors (unless ``allow_incomplete``)."""

    exit_code = ExitCode.FINDINGS

    def __init__(self, case: CaseResult) -> None:
        super().__init__(
            f"{case.display}: not exported: the case has {len(case.findings.errors)} error(s)",
            hint="run opinionkit check on it and fix the errors, or pass --allow-incomplete "
            "(records check withheld and placeholder values are never exported)",
        )
        self.case = case


def export_case(path: Path | str, options: ExportOptions | None = None) -> dict[str, Any]:
    """Check a case and export it as a FHIR R4 Bundle (written to ``options.out`` if
    given, atomically). Raises :class:`ExportRefused` (exit 1) for a case with errors
    unless ``allow_incomplete``; :class:`InputError` (exit 3) for a manifest that is not
    this case's; ``OutputError`` (exit 4) for an ``out`` that is an input of the case,
    or exists without ``force``."""
    options = options or ExportOptions()
    if options.out is not None:  # before the work: a refusal costs nothing
        check_output_file(options.out, force=options.force, inputs=[Path(path)])
    usable = check_case(path, options.check).usable()
    if usable.findings.errors and not options.allow_incomplete:
        raise ExportRefused(usable.result)
    manifest = read_manifest(options.manifest, usable) if options.manifest else None
    doc = export_fhir(usable.result, manifest)
    if options.out is not None:
        check_output_file(options.out, force=options.force, inputs=usable.inputs())
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        atomic_write(options.out, text.encode(), force=options.force)
    return doc


def read_manifest(path: Path, usable: UsableCase) -> dict[str, Any]:
    """A bundle's ``manifest.json``, if it is this case's: its case id, and every input
    it lists a file of this case with the same SHA-256 (the file is unchanged)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(
            f"{path}: not an opinionkit manifest.json (cannot be read as JSON)"
        ) from None
    if not isinstance(doc, dict) or doc.get("schema") != "opinionkit.manifest/1":
        raise InputError(f"{path}: not an opinionkit manifest.json")
    if doc.get("case_id") != usable.case.case_id:
        raise InputError(
            f"{path}: the manifest is another case's (its case_id is not this case's)",
            hint="give the manifest.json of this case's own packet",
        )
    files: dict[tuple[int, str], FileInfo] = {
        (info.index, fi.rel): fi for info, fi in usable.files()
    }
    for item in doc.get("inputs", []):
        try:
            fi = files.get((int(item["record"]), str(item["path"])))
            same = fi is not None and fi.sha256 == item["sha256"]
        except (KeyError, TypeError, ValueError):
            same = False
        if not same:
            raise InputError(
                f"{path}: the manifest does not match this case's records (a record file "
                "it lists is missing or has changed since that packet was made)",
                hint="bundle the case again and export with the new manifest.json",
            )
    return doc


def export_fhir(
    checked: CaseResult, manifest: dict[str, Any] | None = None, when: date | None = None
) -> dict[str, Any]:
    """The case as a FHIR R4 ``collection`` Bundle (a JSON-ready dict): records that
    ``check`` withheld and TODO placeholders are left out."""
    case = checked.usable().case
    b = _Builder(case)
    patient = _patient(b)
    condition = _condition(b, patient)
    _stage(b, patient, condition)
    _markers(b, patient, condition)
    _medications(b, patient, condition)
    _procedures(b, patient, condition)
    _documents(b, patient, checked, manifest)
    day = when or case.prepared or date.today()
    return {
        "resourceType": "Bundle",
        "id": b.rid("bundle"),
        "meta": {"profile": [MCODE + "mcode-patient-bundle"]},
        "identifier": {"system": "urn:opinionkit:case", "value": case.case_id},
        "type": "collection",
        "timestamp": datetime(day.year, day.month, day.day).isoformat() + "Z",
        "entry": _without_placeholders(b.entries),
    }

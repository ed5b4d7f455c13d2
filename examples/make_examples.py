"""Write the record files of the shipped example cases (all people and places fictional).

    .venv/bin/python examples/make_examples.py

Deterministic: the same bytes on every run (Typst with a fixed date, DICOM with fixed
UIDs), and a file is rewritten only when its content changes, so a clean checkout stays
clean. The case files themselves (examples/*/case.yaml) are written by hand.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import typst
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dicomgen import write_study  # noqa: E402

FIXED = 1_790_000_000  # document timestamp for Typst (any fixed value keeps output stable)
_COMPILER = typst.Compiler(ignore_system_fonts=True)


def lit(text: str) -> str:
    """Text as a Typst string literal shown in markup (so no character is markup)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'#"{escaped}";'


@dataclass
class Doc:
    path: str
    facility: str
    address: str
    title: str
    day: date
    patient: list[tuple[str, str]]
    sections: list[tuple[str, str]]
    signer: str
    colour: str = "#1f3b5c"
    lang: str = "en"
    extra_header: list[tuple[str, str]] = field(default_factory=list)


def render(doc: Doc) -> bytes:
    pdf = _COMPILER.compile(
        input=source(doc).encode(), format="pdf", timestamp=FIXED, pdf_tags=False
    )
    assert isinstance(pdf, bytes)
    return pdf


def source(doc: Doc) -> str:
    head = " #h(1.4em) ".join(f"*{lit(k + ':')}* {lit(v)}" for k, v in doc.patient)
    extra = " #h(1.4em) ".join(f"*{lit(k + ':')}* {lit(v)}" for k, v in doc.extra_header)
    body = "\n\n".join(
        (f"== {lit(h)}\n" if h else "") + "\n\n".join(lit(p) for p in text.split("\n\n"))
        for h, text in doc.sections
    )
    extra_line = f" \\ {extra}" if extra else ""
    date_label = lit("Fecha del informe:" if doc.lang == "es" else "Report date:")
    signed = "Firmado electrónicamente por" if doc.lang == "es" else "Electronically signed by"
    on = "el" if doc.lang == "es" else "on"
    src = f"""
#set document(title: {lit(doc.title)[1:-1]}, date: datetime(year: {doc.day.year}, month: {doc.day.month}, day: {doc.day.day}))
#set page(paper: "a4", margin: (x: 20mm, top: 16mm, bottom: 24mm))
#set text(font: "Libertinus Serif", size: 10pt, lang: "{doc.lang}")
#set par(justify: true, leading: 0.6em, spacing: 0.9em)
#show heading.where(level: 2): it => block(above: 1em, below: 0.5em, text(size: 10.5pt, weight: "bold", fill: rgb("{doc.colour}"), upper(it.body)))
#grid(columns: (1fr, auto),
  [#text(size: 15pt, weight: "bold", fill: rgb("{doc.colour}"))[{lit(doc.facility)}] \\ #text(size: 8.5pt, fill: luma(80))[{lit(doc.address)}]],
  align(right + bottom, text(size: 8pt, fill: luma(110))[{lit("Fictional record — example data")}]),
)
#line(length: 100%, stroke: 1pt + rgb("{doc.colour}"))
#v(1mm)
#align(center, text(size: 13pt, weight: "bold")[{lit(doc.title)}])
#v(1mm)
#block(fill: luma(244), inset: 7pt, width: 100%)[{head}{extra_line} \\ *{date_label}* {lit(doc.day.isoformat())}]
{body}

#v(8mm)
#text(style: "italic")[{lit(f"{signed} {doc.signer} {on} {doc.day.isoformat()}")}]
"""
    return src


def scan(doc: Doc) -> bytes:
    """The document rendered as a greyscale 'scan' (JPEG, 110 dpi, slightly skewed)."""
    pages = _COMPILER.compile(input=source(doc).encode(), format="png", ppi=110)
    first = pages[0] if isinstance(pages, list) else pages
    img = Image.open(io.BytesIO(first)).convert("L")
    img = img.rotate(0.6, resample=Image.Resampling.BICUBIC, fillcolor=250)
    img = img.filter(ImageFilter.GaussianBlur(0.5)).point(lambda v: min(250, v + 12))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=70, dpi=(110, 110), optimize=False)
    return out.getvalue()


def put(path: Path, data: bytes) -> None:
    """Write only when the content differs (keeps timestamps and git status quiet)."""
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def pdf(case: str, doc: Doc) -> None:
    put(HERE / case / doc.path, render(doc))


# ------------------------------------------------------------------ lung-international

LUNG = "lung-international"
TF = [("Patient", "Tomás Ferrer Vidal"), ("Date of birth", "1964-08-19"), ("MRN", "00482913")]
TF_ES = [
    ("Paciente", "Tomás Ferrer Vidal"),
    ("Fecha de nacimiento", "1964-08-19"),
    ("NHC", "HCA-448120"),
]
NCI = "Northfield Cancer Institute"
NCI_ADDR = "400 Harbour Road, Northfield · Tel 555-0140 · Fax 555-0141"


def lung(folder: str = LUNG) -> None:
    """The lung case's records, written into ``folder`` (the case after its opinion
    holds the same records)."""
    pdf(
        folder,
        Doc(
            "records/pathology-biopsy.pdf",
            NCI,
            NCI_ADDR,
            "Surgical Pathology Report",
            date(2026, 9, 18),
            TF,
            [
                (
                    "Specimen",
                    "CT-guided core needle biopsy, right upper lobe lung mass (3 cores, 1.8 cm aggregate).",
                ),
                (
                    "Microscopic description",
                    "Sections show an invasive non-small cell carcinoma with acinar and solid growth patterns, moderate nuclear atypia and focal necrosis. No small cell component is identified.\n\nImmunohistochemistry: TTF-1 positive, Napsin A positive, p40 negative, CK5/6 negative. The profile supports adenocarcinoma of pulmonary origin.",
                ),
                (
                    "Diagnosis",
                    "Right upper lobe, core biopsy: INVASIVE ADENOCARCINOMA, acinar and solid predominant, moderately to poorly differentiated. Tissue is sufficient for molecular testing; block A1 sent for next-generation sequencing.",
                ),
            ],
            "Dr. Helena Strand, MD, Pathology",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/ngs-report.pdf",
            "Northfield Molecular Diagnostics",
            "400 Harbour Road, Northfield · Tel 555-0150",
            "Next-Generation Sequencing Report — Solid Tumour Panel",
            date(2026, 10, 5),
            TF,
            [
                ("Specimen", "Block A1 from biopsy of 2026-09-18, tumour content about 40 %."),
                (
                    "Results",
                    "EGFR exon 19 deletion (p.E746_A750del) detected, variant allele frequency 23 %.\n\nALK, ROS1, RET and NTRK fusions: not detected. KRAS, BRAF, MET exon 14 skipping: not detected. Tumour mutational burden: 4 mutations/Mb (low).",
                ),
                ("PD-L1 immunohistochemistry (22C3)", "Tumour proportion score 40 %."),
                (
                    "Interpretation",
                    "An EGFR-sensitising mutation is present. Targeted therapy with an EGFR tyrosine kinase inhibitor may be relevant; discuss at the thoracic tumour board.",
                ),
            ],
            "Dr. Imre Kovacs, PhD, Molecular Pathology",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/ct-staging-report.pdf",
            NCI,
            NCI_ADDR,
            "CT Chest, Abdomen and Pelvis with Contrast — Staging",
            date(2026, 10, 2),
            TF,
            [
                ("Clinical information", "Right upper lobe adenocarcinoma on biopsy. Staging."),
                (
                    "Findings",
                    "Spiculated right upper lobe mass measuring 4.6 x 3.9 cm, abutting but not invading the mediastinal pleura. Enlarged right lower paratracheal (station 4R) node, 1.6 cm short axis, and subcarinal (station 7) node, 1.2 cm. No contralateral or supraclavicular adenopathy.\n\nNo pleural or pericardial effusion. Liver, adrenal glands and bones show no suspicious lesion.",
                ),
                (
                    "Impression",
                    "Right upper lobe primary with ipsilateral mediastinal nodal disease, cT2b N2 M0 (AJCC 8th edition), stage IIIA. Images available on CD.",
                ),
            ],
            "Dr. Samuel Okoro, MD, Radiology",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/pet-ct-report.pdf",
            NCI,
            NCI_ADDR,
            "FDG PET-CT — Whole Body",
            date(2026, 10, 9),
            TF,
            [
                (
                    "Findings",
                    "Intensely FDG-avid right upper lobe mass (SUVmax 14.2). FDG-avid nodes at stations 4R (SUVmax 7.9) and 7 (SUVmax 5.1). No FDG-avid distant disease. Brain MRI recommended separately.",
                ),
                (
                    "Impression",
                    "Findings consistent with stage IIIA disease without distant metastasis.",
                ),
            ],
            "Dr. Samuel Okoro, MD, Nuclear Medicine",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/labs-2026-11-02.pdf",
            NCI,
            NCI_ADDR,
            "Laboratory Report — Haematology and Chemistry",
            date(2026, 11, 2),
            TF,
            [
                (
                    "Full blood count",
                    "Haemoglobin 118 g/L (130–170). White cells 4.1 x10^9/L. Neutrophils 2.6 x10^9/L. Platelets 212 x10^9/L.",
                ),
                (
                    "Chemistry",
                    "Creatinine 78 µmol/L. eGFR > 90. ALT 24 U/L. Bilirubin 9 µmol/L. Albumin 38 g/L.",
                ),
            ],
            "Automated report, verified by J. Reyes, Laboratory",
        ),
    )
    for day, title, text in [
        (
            date(2026, 10, 14),
            "Thoracic Oncology Clinic Letter",
            "Mr Ferrer Vidal attended with his daughter. He has a 4.6 cm right upper lobe adenocarcinoma with N2 disease (stations 4R and 7), stage IIIA, EGFR exon 19 deletion, PD-L1 40 %. ECOG performance status 1.\n\nThe thoracic tumour board recommended definitive concurrent chemoradiotherapy, with carboplatin and paclitaxel weekly and 60 Gy in 30 fractions, followed by consolidation. Surgery was not favoured because of bulky multistation N2 disease. The patient wishes to obtain an international second opinion on whether an EGFR-targeted approach or surgery should be part of his treatment.",
        ),
        (
            date(2026, 11, 4),
            "Thoracic Oncology Clinic Letter — Review",
            "Review after two weeks of concurrent chemoradiotherapy, started on 2026-10-26. Tolerating treatment well apart from grade 1 oesophagitis and fatigue. Weight stable.\n\nPlan: continue weekly carboplatin (AUC 2) and paclitaxel (45 mg/m2) with radiotherapy; restaging CT four to six weeks after completion. We will discuss consolidation options, including osimertinib given the EGFR mutation, after the second opinion.",
        ),
    ]:
        pdf(
            folder,
            Doc(
                f"records/consult-{day.isoformat()}.pdf",
                NCI,
                NCI_ADDR,
                title,
                day,
                TF,
                [("", text)],
                "Dr. Priya Raman, MD, Medical Oncology",
            ),
        )
    pdf(
        folder,
        Doc(
            "records/treatment-plan.pdf",
            NCI,
            NCI_ADDR,
            "Treatment Plan — Concurrent Chemoradiotherapy",
            date(2026, 10, 20),
            TF,
            [
                (
                    "Regimen",
                    "Carboplatin AUC 2 and paclitaxel 45 mg/m2 intravenously, weekly for 6 weeks, with thoracic radiotherapy 60 Gy in 30 daily fractions (IMRT), starting 2026-10-26.",
                ),
                (
                    "Supportive care",
                    "Ondansetron before chemotherapy; omeprazole; dietitian review weekly.",
                ),
                (
                    "After completion",
                    "Restaging CT at 4–6 weeks. Tumour board to discuss consolidation therapy.",
                ),
            ],
            "Dr. Priya Raman, MD, Medical Oncology",
        ),
    )
    hca = "Hospital Costa Azul"
    hca_addr = "Avenida del Puerto 12, Valmar · Tel 555-0170"
    pdf(
        folder,
        Doc(
            "records/informe-alta-es.pdf",
            hca,
            hca_addr,
            "Informe de Alta Hospitalaria",
            date(2026, 9, 21),
            TF_ES,
            [
                (
                    "Motivo de ingreso",
                    "Neumotórax derecho tras biopsia pulmonar guiada por TC realizada el 2026-09-18 en otro centro.",
                ),
                (
                    "Evolución",
                    "Se colocó un drenaje torácico de pequeño calibre con reexpansión pulmonar completa a las 48 horas. Se retiró el drenaje sin incidencias. El paciente permaneció estable y afebril.",
                ),
                (
                    "Diagnóstico al alta",
                    "Neumotórax iatrogénico resuelto. Adenocarcinoma de pulmón en estudio.",
                ),
                (
                    "Tratamiento al alta",
                    "Paracetamol 1 g cada 8 horas si dolor. Control en consultas de neumología.",
                ),
            ],
            "Dra. Lucía Navarro Gil, Neumología",
            colour="#7a2e2e",
            lang="es",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/informe-alta-translation.pdf",
            "Certified translation",
            "Translated from Spanish by Clearword Medical Translations (fictional) · Translator no. 2291",
            "Hospital Discharge Report (English translation)",
            date(2026, 10, 1),
            TF,
            [
                (
                    "Reason for admission",
                    "Right pneumothorax after a CT-guided lung biopsy performed on 2026-09-18 at another centre.",
                ),
                (
                    "Course",
                    "A small-bore chest drain was placed, with complete re-expansion of the lung at 48 hours. The drain was removed without complications. The patient remained stable and afebrile.",
                ),
                (
                    "Discharge diagnosis",
                    "Resolved iatrogenic pneumothorax. Lung adenocarcinoma under investigation.",
                ),
                (
                    "Treatment at discharge",
                    "Paracetamol 1 g every 8 hours if needed for pain. Follow-up in the respiratory clinic.",
                ),
                (
                    "Translator's statement",
                    "I certify that this is a complete and accurate translation of the original Spanish document dated 2026-09-21.",
                ),
            ],
            "M. Duarte, certified medical translator",
            colour="#555555",
        ),
    )
    pdf(
        folder,
        Doc(
            "records/release-authorisation.pdf",
            NCI,
            NCI_ADDR,
            "Authorisation to Release Medical Records",
            date(2026, 11, 5),
            TF,
            [
                (
                    "Records to release",
                    "All pathology, imaging (reports and images), molecular, laboratory and oncology clinic records from 2026-07-01 to date.",
                ),
                (
                    "Released to",
                    "International Thoracic Second Opinion Programme, Meridian University Hospital, for a written second opinion.",
                ),
                (
                    "Signature",
                    "Signed by the patient, Tomás Ferrer Vidal, on 2026-11-05. This authorisation expires on 2027-11-05 and may be revoked in writing at any time.",
                ),
            ],
            "Records Office, Northfield Cancer Institute",
        ),
    )
    write_study(
        HERE / folder / "records/imaging/ct-2026-10-02",
        study_no=1,
        patient_name="Ferrer Vidal^Tomas",
        patient_id="00482913",
        birth_date=date(1964, 8, 19),
        sex="M",
        study_date=date(2026, 10, 2),
        modality="CT",
        study_description="CT CHEST ABDOMEN PELVIS WITH CONTRAST",
        series=[("AXIAL 5MM SOFT TISSUE", 4), ("AXIAL 5MM LUNG", 4)],
        institution=NCI,
    )


# ------------------------------------------------------------------ lung-after-opinion

AFTER = "lung-after-opinion"
MUH = "Meridian University Hospital"
MUH_ADDR = "International Thoracic Second Opinion Programme · 1 Meridian Square, Meridian City"


def after_opinion() -> None:
    """The lung case once its written review has come back: the same records, and the
    review itself (its recommended plan differs from the treating team's)."""
    lung(AFTER)
    pdf(
        AFTER,
        Doc(
            "records/second-opinion-report.pdf",
            MUH,
            MUH_ADDR,
            "Multidisciplinary Written Second Opinion",
            date(2026, 12, 2),
            TF,
            [
                (
                    "Question asked",
                    "Given the EGFR exon 19 deletion and multistation N2 disease, should treatment after chemoradiotherapy be consolidation osimertinib rather than durvalumab, or is there a role for surgery?",
                ),
                (
                    "Pathology re-review",
                    "Eight slides and one block (NCI-S26-10488) were reviewed. We agree with invasive adenocarcinoma, solid and acinar predominant; TTF-1 and Napsin A positive, p40 negative. Tumour content of the block is sufficient for repeat testing if needed.",
                ),
                (
                    "Imaging re-read",
                    "Staging CT of 2026-10-02 and FDG PET-CT of 2026-10-09 were re-read. In addition to the ipsilateral stations 4R and 7, a 9 mm FDG-avid left hilar node (SUVmax 4.1) is present, which we read as contralateral nodal disease (N3). We therefore stage the cancer as IIIB (cT2b N3 M0), AJCC 8th edition.",
                ),
                (
                    "Recommended pathway",
                    "Complete concurrent chemoradiotherapy as planned, including the left hilar node in the radiation volume if it can be covered safely; after completion without progression, consolidation osimertinib 80 mg daily rather than durvalumab. Surgery is not recommended given N3 disease.",
                ),
                (
                    "Rationale",
                    "In unresectable stage III EGFR-mutated disease, consolidation osimertinib after chemoradiotherapy prolonged progression-free survival in a randomised phase 3 trial (LAURA), while the benefit of durvalumab in EGFR-mutated tumours is uncertain. Contralateral nodal disease makes resection inappropriate.",
                ),
                (
                    "Trial options",
                    "NCT06000001 (fictional): osimertinib with or without local consolidative radiotherapy after chemoradiotherapy, open at Meridian University Hospital.",
                ),
                (
                    "Answer to the question",
                    "Consolidation osimertinib rather than durvalumab; surgery has no role because we read the disease as N3 (stage IIIB).",
                ),
                (
                    "Follow-up",
                    "We suggest a biopsy or EBUS of the left hilar node if it would change the radiation plan, and a video consultation with the patient and Dr. Raman if helpful.",
                ),
            ],
            "Dr. Elena Marsh, thoracic oncologist, for the multidisciplinary board",
            colour="#2d5f3f",
        ),
    )


# ------------------------------------------------------------------ paediatric-all

PAED = "paediatric-all"
MO = [("Patient", "Mia Okafor"), ("Date of birth", "2019-05-14"), ("MRN", "C-7730215")]
SCH = "St Clement's Children's Hospital"
SCH_ADDR = "18 Orchard Lane, Brookfield · Tel 555-0190 · Fax 555-0191"


def paediatric() -> None:
    pdf(
        PAED,
        Doc(
            "records/bone-marrow-pathology.pdf",
            SCH,
            SCH_ADDR,
            "Bone Marrow Aspirate and Trephine Report",
            date(2026, 9, 8),
            MO,
            [
                (
                    "Clinical details",
                    "7-year-old girl with pallor, bruising and fatigue; pancytopenia with circulating blasts.",
                ),
                (
                    "Aspirate",
                    "Hypercellular particles. Blasts 86 % of nucleated cells: small to medium-sized, high nuclear to cytoplasmic ratio, fine chromatin, inconspicuous nucleoli. No Auer rods.",
                ),
                (
                    "Flow cytometry",
                    "Blasts express CD19, CD10, CD22, cytoplasmic CD79a, TdT and CD34; negative for myeloid (MPO, CD13, CD33) and T-cell markers.",
                ),
                (
                    "Diagnosis",
                    "B-LYMPHOBLASTIC LEUKAEMIA (precursor B-cell ALL), common (CD10-positive) immunophenotype.",
                ),
            ],
            "Dr. Anika Patel, MD, Haematopathology",
            colour="#2e5e3e",
        ),
    )
    pdf(
        PAED,
        Doc(
            "records/cytogenetics-fish.pdf",
            "Brookfield Genetics Laboratory",
            "18 Orchard Lane, Brookfield · Tel 555-0195",
            "Cytogenetics and FISH Report",
            date(2026, 9, 12),
            MO,
            [
                ("Karyotype", "46,XX,t(12;21)(p13;q22)[14]/46,XX[6]."),
                (
                    "FISH",
                    "ETV6-RUNX1 fusion detected in 82 % of 200 nuclei. BCR-ABL1: not detected. KMT2A rearrangement: not detected. No iAMP21.",
                ),
                ("Interpretation", "ETV6-RUNX1-positive B-ALL, a favourable genetic subtype."),
            ],
            "Dr. Ruth Adeyemi, PhD, Clinical Cytogenetics",
            colour="#2e5e3e",
        ),
    )
    pdf(
        PAED,
        Doc(
            "records/chest-xray-report.pdf",
            SCH,
            SCH_ADDR,
            "Chest Radiograph Report",
            date(2026, 9, 7),
            MO,
            [
                (
                    "Findings",
                    "Frontal chest radiograph. No mediastinal mass (mediastinal-to-thoracic ratio 0.24). Lungs clear. No pleural effusion. Bones normal for age.",
                ),
                ("Impression", "No mediastinal mass. Normal chest radiograph."),
            ],
            "Dr. Tomasz Wolski, MD, Paediatric Radiology",
            colour="#2e5e3e",
        ),
    )
    pdf(
        PAED,
        Doc(
            "records/blood-count.pdf",
            SCH,
            SCH_ADDR,
            "Laboratory Report — Full Blood Count",
            date(2026, 9, 7),
            MO,
            [
                (
                    "Results",
                    "Haemoglobin 72 g/L (115–145). White cells 38.4 x10^9/L with 71 % blasts. Neutrophils 0.6 x10^9/L. Platelets 24 x10^9/L.\n\nUric acid 0.41 mmol/L, potassium 4.2 mmol/L, LDH 880 U/L.",
                ),
            ],
            "Automated report, verified by C. Lindqvist, Laboratory",
            colour="#2e5e3e",
        ),
    )
    for day, title, text in [
        (
            date(2026, 9, 10),
            "Paediatric Oncology Consultation",
            "Mia was referred with a three-week history of tiredness and pallor and a week of easy bruising. Examination showed pallor, scattered bruises and 2 cm hepatosplenomegaly; no testicular or CNS signs. Bone marrow confirmed B-ALL (ETV6-RUNX1 positive). CSF: CNS1.\n\nShe is classified as NCI standard risk. Her mother, Grace Okafor, consented to four-drug induction per our standard-risk protocol, starting 2026-09-11.",
        ),
        (
            date(2026, 10, 20),
            "Paediatric Oncology Clinic Letter — End of Induction",
            "Day 29 bone marrow: morphological remission; minimal residual disease by flow cytometry below 0.01 %. Mia tolerated induction with steroid-related mood changes and constipation, now settled. Lansky performance score 80.\n\nConsolidation started 2026-10-12. Her parents ask for a second opinion on whether treatment intensity could be reduced given the favourable genetics and rapid response.",
        ),
    ]:
        pdf(
            PAED,
            Doc(
                f"records/consult-{day.isoformat()}.pdf",
                SCH,
                SCH_ADDR,
                title,
                day,
                MO,
                [("", text)],
                "Dr. Felix Amankwah, MD, Paediatric Oncology",
                colour="#2e5e3e",
            ),
        )
    pdf(
        PAED,
        Doc(
            "records/treatment-plan.pdf",
            SCH,
            SCH_ADDR,
            "Treatment Plan — Standard-Risk B-ALL",
            date(2026, 9, 10),
            MO,
            [
                (
                    "Induction (4 weeks)",
                    "Vincristine weekly, dexamethasone daily for 28 days, pegaspargase once, intrathecal methotrexate on days 1, 8 and 29.",
                ),
                (
                    "Consolidation (4 weeks)",
                    "Oral mercaptopurine daily, vincristine, intrathecal methotrexate weekly.",
                ),
                (
                    "Later phases",
                    "Interim maintenance, delayed intensification and maintenance to a total of about two years, adjusted to minimal residual disease.",
                ),
            ],
            "Dr. Felix Amankwah, MD, Paediatric Oncology",
            colour="#2e5e3e",
        ),
    )
    pdf(
        PAED,
        Doc(
            "records/release-authorisation.pdf",
            SCH,
            SCH_ADDR,
            "Authorisation to Release Medical Records",
            date(2026, 11, 2),
            MO,
            [
                (
                    "Records to release",
                    "Haematology, pathology, genetics, imaging and oncology records from 2026-09-01 to date.",
                ),
                (
                    "Released to",
                    "Children's Leukaemia Second Opinion Service, Harrowgate Children's Medical Centre.",
                ),
                ("Signature", "Signed by Grace Okafor, mother and legal guardian, on 2026-11-02."),
            ],
            "Health Records Department, St Clement's Children's Hospital",
            colour="#2e5e3e",
        ),
    )
    write_study(
        HERE / PAED / "records/imaging/xray-2026-09-07",
        study_no=2,
        patient_name="Okafor^Mia",
        patient_id="C-7730215",
        birth_date=date(2019, 5, 14),
        sex="F",
        study_date=date(2026, 9, 7),
        modality="DX",
        study_description="CHEST PA",
        series=[("PA", 1)],
        institution=SCH,
        size=48,
    )


# ------------------------------------------------------------------ sarcoma-adult

SARC = "sarcoma-adult"
DB = [("Patient", "Daniel Brenner"), ("Date of birth", "1978-02-27"), ("MRN", "RV-220914")]
RV = "Riverside University Hospital"
RV_ADDR = "2 College Green, Riverside · Tel 555-0210 · Fax 555-0211"


def sarcoma() -> None:
    pdf(
        SARC,
        Doc(
            "records/mri-thigh-report.pdf",
            RV,
            RV_ADDR,
            "MRI Left Thigh with Gadolinium",
            date(2026, 9, 28),
            DB,
            [
                (
                    "Findings",
                    "Well-circumscribed intramuscular mass in the left vastus lateralis, 11.2 x 6.8 x 5.9 cm, markedly T2-hyperintense with lace-like enhancing septa. No bone involvement. The neurovascular bundle is displaced, not encased.",
                ),
                (
                    "Impression",
                    "Appearances typical of myxoid liposarcoma. Biopsy along the planned surgical approach is advised.",
                ),
            ],
            "Dr. Olga Mikhailova, MD, Musculoskeletal Radiology",
            colour="#4a3470",
        ),
    )
    pdf(
        SARC,
        Doc(
            "records/ct-chest-report.pdf",
            RV,
            RV_ADDR,
            "CT Chest, Abdomen and Pelvis — Staging",
            date(2026, 10, 1),
            DB,
            [
                (
                    "Findings",
                    "No pulmonary nodules. No retroperitoneal or abdominal soft-tissue mass. No lymphadenopathy. Bones unremarkable.",
                ),
                (
                    "Impression",
                    "No evidence of metastatic disease. Given the subtype, whole-spine MRI is suggested.",
                ),
            ],
            "Dr. Olga Mikhailova, MD, Radiology",
            colour="#4a3470",
        ),
    )
    pdf(
        SARC,
        Doc(
            "records/core-biopsy-pathology.pdf",
            RV,
            RV_ADDR,
            "Surgical Pathology Report — Core Biopsy",
            date(2026, 10, 6),
            DB,
            [
                ("Specimen", "Left thigh mass, ultrasound-guided core biopsies (4 cores)."),
                (
                    "Microscopy",
                    "Hypocellular myxoid neoplasm with a delicate plexiform capillary network and uniform oval cells with scattered lipoblasts. Round-cell component estimated below 5 %. No necrosis. Mitoses 1 per 10 high-power fields.",
                ),
                (
                    "Diagnosis",
                    "MYXOID LIPOSARCOMA, low grade (FNCLCC grade 1 equivalent on core sampling); confirmation of DDIT3 rearrangement requested.",
                ),
            ],
            "Dr. Karim Haddad, MD, Soft Tissue Pathology",
            colour="#4a3470",
        ),
    )
    pdf(
        SARC,
        Doc(
            "records/fish-ddit3.pdf",
            "Riverside Molecular Pathology",
            "2 College Green, Riverside · Tel 555-0215",
            "FISH Report — DDIT3 Break-Apart Probe",
            date(2026, 10, 12),
            DB,
            [
                (
                    "Result",
                    "DDIT3 (12q13) rearrangement detected in 68 % of 100 nuclei. FUS-DDIT3 fusion inferred.",
                ),
                ("Interpretation", "Confirms myxoid liposarcoma."),
            ],
            "Dr. Mei Lin Zhou, PhD, Molecular Pathology",
            colour="#4a3470",
        ),
    )
    pdf(
        SARC,
        Doc(
            "records/labs-2026-10-28.pdf",
            RV,
            RV_ADDR,
            "Laboratory Report",
            date(2026, 10, 28),
            DB,
            [
                (
                    "Results",
                    "Haemoglobin 146 g/L. White cells 6.8 x10^9/L. Platelets 251 x10^9/L. Creatinine 84 µmol/L. ALT 31 U/L.",
                ),
            ],
            "Automated report, verified by P. Nwosu, Laboratory",
            colour="#4a3470",
        ),
    )
    for day, title, text in [
        (
            date(2026, 10, 15),
            "Sarcoma Clinic Letter",
            "Mr Brenner, a 48-year-old carpenter, noticed a painless swelling of the left thigh in July 2026. MRI and core biopsy show a myxoid liposarcoma of the vastus lateralis, 11 cm, DDIT3 rearranged. Staging CT is clear. ECOG 0.\n\nThe multidisciplinary team recommends preoperative radiotherapy, 50 Gy in 25 fractions, followed by wide local excision about five weeks after radiotherapy. He asks for a second opinion from a specialist sarcoma centre before surgery.",
        ),
        (
            date(2026, 11, 10),
            "Sarcoma Clinic Letter — On Treatment",
            "Preoperative radiotherapy started on 2026-11-02 and is well tolerated (mild skin erythema). The mass is softer on examination. Surgery is provisionally planned for mid-January 2027 after restaging MRI. Whole-spine MRI was normal.",
        ),
    ]:
        pdf(
            SARC,
            Doc(
                f"records/consult-{day.isoformat()}.pdf",
                RV,
                RV_ADDR,
                title,
                day,
                DB,
                [("", text)],
                "Dr. Ingrid Solberg, MD, Sarcoma Oncology",
                colour="#4a3470",
            ),
        )
    pdf(
        SARC,
        Doc(
            "records/treatment-plan.pdf",
            RV,
            RV_ADDR,
            "Multidisciplinary Team Treatment Plan",
            date(2026, 10, 15),
            DB,
            [
                (
                    "Plan",
                    "Preoperative external-beam radiotherapy to the left thigh, 50 Gy in 25 fractions, starting 2026-11-02. Wide local excision with a planned cuff of normal tissue 4–6 weeks after radiotherapy. Follow-up imaging every 3–6 months.",
                ),
            ],
            "Dr. Ingrid Solberg, MD, on behalf of the sarcoma MDT",
            colour="#4a3470",
        ),
    )
    pdf(
        SARC,
        Doc(
            "records/release-authorisation.pdf",
            RV,
            RV_ADDR,
            "Authorisation to Release Medical Records",
            date(2026, 11, 12),
            DB,
            [
                (
                    "Released to",
                    "Sarcoma Unit, Lakeside Comprehensive Cancer Centre, for a second opinion.",
                ),
                ("Signature", "Signed by the patient, Daniel Brenner, on 2026-11-12."),
            ],
            "Records Office, Riverside University Hospital",
            colour="#4a3470",
        ),
    )
    referral = Doc(
        "records/gp-referral-scan.jpg",
        "Hillside Family Practice",
        "9 Mill Street, Riverside · Tel 555-0230",
        "Urgent Referral — Suspected Sarcoma",
        date(2026, 9, 20),
        DB,
        [
            (
                "",
                "Dear colleague, I would be grateful if you would see this 48-year-old man with a 10 cm soft, painless, enlarging mass of the left thigh, first noticed in July. Ultrasound shows a deep intramuscular lesion. Please assess under the suspected sarcoma pathway.",
            ),
        ],
        "Dr. Nora Whitcombe, General Practitioner",
        colour="#333333",
    )
    put(HERE / SARC / referral.path, scan(referral))
    write_study(
        HERE / SARC / "records/imaging/mri-2026-09-28",
        study_no=3,
        patient_name="Brenner^Daniel",
        patient_id="RV-220914",
        birth_date=date(1978, 2, 27),
        sex="M",
        study_date=date(2026, 9, 28),
        modality="MR",
        study_description="MRI LEFT THIGH WITH GADOLINIUM",
        series=[("AX T2 FS", 3), ("COR T1 POST GAD", 3)],
        institution=RV,
    )


# ------------------------------------------------------------------ incomplete

INC = "incomplete"
RC = [("Patient", "Ruth Calloway"), ("Date of birth", "1955-11-02"), ("MRN", "LK-003318")]
OTHER = [("Patient", "Martin Hale"), ("Date of birth", "1949-03-30"), ("MRN", "LK-009921")]
LK = "Lakeview General Hospital"
LK_ADDR = "77 Shore Drive, Lakeview · Tel 555-0250"


def incomplete() -> None:
    pdf(
        INC,
        Doc(
            "records/mammogram-report.pdf",
            LK,
            LK_ADDR,
            "Bilateral Diagnostic Mammogram and Ultrasound",
            date(2026, 10, 20),
            RC,
            [
                (
                    "Findings",
                    "Irregular spiculated mass in the left breast, upper outer quadrant, 2.3 cm, with an abnormal-appearing left axillary node.",
                ),
                ("Impression", "BI-RADS 5. Ultrasound-guided core biopsy recommended."),
            ],
            "Dr. Alan Pereira, MD, Breast Imaging",
            colour="#8a4b08",
        ),
    )
    # The seeded defect: an "outside CT" that belongs to another patient.
    pdf(
        INC,
        Doc(
            "records/outside-ct.pdf",
            LK,
            LK_ADDR,
            "CT Chest with Contrast",
            date(2026, 10, 24),
            OTHER,
            [
                (
                    "Findings",
                    "Two sub-centimetre nodules in the right lower lobe, indeterminate. No lymphadenopathy.",
                ),
                ("Impression", "Indeterminate pulmonary nodules; follow-up CT in 3 months."),
            ],
            "Dr. Alan Pereira, MD, Radiology",
            colour="#8a4b08",
        ),
    )


def main() -> None:
    lung()
    after_opinion()
    paediatric()
    sarcoma()
    incomplete()


if __name__ == "__main__":
    main()

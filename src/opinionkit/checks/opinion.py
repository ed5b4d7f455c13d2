"""After the packet: the opinions received and the programme's clock (PRODUCT.md section 9).

Reads the case file alone (never a record file), so ``status`` can run it over hundreds of
cases. The opinion's written report is a record like any other (kind
``second-opinion-report``): whether its file is readable and is this patient's is judged
by the normal file inspection in :mod:`opinionkit.checks.files`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from opinionkit.clock import due_date
from opinionkit.findings import Finding, Severity
from opinionkit.loading import LoadedCase
from opinionkit.models import MaterialKind, OpinionReviewType, RecordKind

__all__ = ["check_opinions"]

_SLIDES = {MaterialKind.SLIDES, MaterialKind.BLOCKS, MaterialKind.DIGITAL_SLIDES}


def check_opinions(loaded: LoadedCase, today: date) -> Iterator[Finding]:
    case = loaded.case
    assert case is not None
    where = loaded.where
    reports = {r.id: (i, r) for i, r in enumerate(case.records) if r.id is not None}

    if case.sent is not None and case.recipient is None:
        yield Finding(
            "sent.no-recipient",
            Severity.WARNING,
            "sent: is given but there is no recipient: to say who the packet went to",
            "add recipient: with the programme's name or facility",
            **where(("sent",)),
        )
    due = due_date(case)
    if due is not None and not case.opinions and today <= due:
        yield Finding(
            "opinion.due",
            Severity.INFO,
            f"the opinion is due on {due.isoformat()} "
            "(sent: plus the recipient's turnaround_business_days)",
            "when it arrives, record it under opinions: and run opinionkit compare",
            **where(("sent",)),
        )
    if due is not None and not case.opinions and today > due:
        late = (today - due).days
        yield Finding(
            "opinion.overdue",
            Severity.WARNING,
            f"the opinion was due {late} day{'s' if late != 1 else ''} ago "
            "(sent: plus the recipient's turnaround_business_days)",
            "contact the programme to ask when the review will be ready; when it arrives, "
            "record it under opinions:",
            **where(("sent",)),
        )

    slides_sent = any(m.kind in _SLIDES for m in case.physical_materials)
    asked = case.request.primary_question is not None
    for n, op in enumerate(case.opinions):
        key = ("opinions", n)
        if op.received is not None and case.sent is not None and op.received < case.sent:
            yield Finding(
                "opinion.received-before-sent",
                Severity.WARNING,
                "an opinion's received date is before the packet's sent date",
                "check both dates",
                **where((*key, "received")),
            )
        if op.received is None:
            yield Finding(
                "opinion.no-date",
                Severity.WARNING,
                "an opinion has no received: date",
                "write the date the opinion arrived (YYYY-MM-DD)",
                **where(key),
            )
        if op.report is not None:
            hit = reports.get(op.report)
            if hit is None or hit[1].kind is not RecordKind.SECOND_OPINION_REPORT:
                yield Finding(
                    "opinion.unknown-report",
                    Severity.ERROR,
                    "report: does not name the id of a second-opinion-report record",
                    "add the written review under records: with kind: second-opinion-report "
                    "and an id:, and use that id here",
                    **where((*key, "report")),
                )
        elif op.review_type is OpinionReviewType.WRITTEN:
            yield Finding(
                "opinion.no-report",
                Severity.WARNING,
                "a written opinion names no report record",
                "add the written review as a record (kind: second-opinion-report, id: ...) "
                "and name its id under report:",
                **where(key),
            )
        if asked and op.answer is None:
            yield Finding(
                "opinion.no-answer",
                Severity.WARNING,
                "the opinion gives no answer to the primary question the request asked",
                "copy the review's answer under answer:, or ask the programme for one",
                **where(key),
            )
        if slides_sent and op.pathology_review is None:
            yield Finding(
                "opinion.no-pathology-review",
                Severity.WARNING,
                "slides or blocks were sent, but the opinion records no pathology re-review",
                "copy what the reviewing pathologist found under pathology_review:, or ask "
                "the programme whether the slides were reviewed",
                **where(key),
            )
        if op.agrees_with_plan is None:
            yield Finding(
                "opinion.agreement-unstated",
                Severity.INFO,
                "the opinion does not say whether it agrees with the current plan",
                "set agrees_with_plan: yes, no or partly",
                **where(key),
            )

"""The programme's clock: when an opinion is due, counted in business days.

One decision, made here: a business day is Monday to Friday (no public holidays -- they
differ by country and programme; a records office that needs them can add a day or two to
``turnaround_business_days``). The clock starts on the case's ``sent:`` date; the opinion
is due ``recipient.turnaround_business_days`` business days later, and overdue on any day
after that while no opinion has been recorded.
"""

from __future__ import annotations

from datetime import date, timedelta

from opinionkit.models import Case

__all__ = ["add_business_days", "business_days_between", "due_date", "is_overdue"]


def add_business_days(start: date, days: int) -> date:
    """The date ``days`` business days after ``start`` (Monday to Friday; ``start`` itself
    does not count): sent on a Friday with 1 business day, due on the Monday."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    while days:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (negative when ``end`` is
    before ``start``): the inverse of :func:`add_business_days`."""
    if end < start:
        return -business_days_between(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if (start + timedelta(n)).weekday() < 5)


def due_date(case: Case) -> date | None:
    """When the opinion is due: ``sent`` plus the recipient's turnaround in business days;
    None when either is not given."""
    if case.sent is None or case.recipient is None:
        return None
    days = case.recipient.turnaround_business_days
    if days is None:
        return None
    return add_business_days(case.sent, days)


def is_overdue(case: Case, today: date) -> bool:
    """Due before ``today`` and no opinion recorded yet."""
    due = due_date(case)
    return due is not None and today > due and not case.opinions

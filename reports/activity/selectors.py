"""Reads of the daily activity reports for the staff API."""

from django.db.models import QuerySet

from core.exceptions import NotFoundError

from .models import ActivityReport


def activity_report_list(*, limit: int = 100) -> QuerySet[ActivityReport]:
    """The newest reports first."""
    return ActivityReport.objects.all()[:limit]


def activity_report_get(*, report_id: int) -> ActivityReport:
    report = ActivityReport.objects.filter(pk=report_id).first()
    if report is None:
        raise NotFoundError("No such report.")
    return report

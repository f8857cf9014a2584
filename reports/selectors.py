from django.db.models import QuerySet

from .models import UserReport


def user_report_list(*, limit: int = 100) -> QuerySet[UserReport]:
    """The newest reports first."""
    return UserReport.objects.order_by("-created_at", "-id")[:limit]

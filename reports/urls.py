from django.urls import path

from . import apis
from .activity import apis as activity_apis

urlpatterns = [
    path("reports/users/", apis.UserReportListApi.as_view(), name="user-report-list"),
    path("reports/activity/", activity_apis.ActivityReportListApi.as_view(), name="activity-report-list"),
    path(
        "reports/activity/<int:report_id>/activity.csv",
        activity_apis.ActivityReportCsvApi.as_view(),
        name="activity-report-csv",
    ),
    path(
        "reports/activity/<int:report_id>/chart.png",
        activity_apis.ActivityReportPngApi.as_view(),
        name="activity-report-png",
    ),
]

from django.urls import path

from . import apis

urlpatterns = [
    path("reports/users/", apis.UserReportListApi.as_view(), name="user-report-list"),
]

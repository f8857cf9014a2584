"""Staff download the daily activity reports: the list, each CSV and each chart."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ActivityReport
from .selectors import activity_report_get, activity_report_list


class ActivityReportSerializer(serializers.ModelSerializer):
    csv_url = serializers.SerializerMethodField()
    png_url = serializers.SerializerMethodField()

    class Meta:
        model = ActivityReport
        fields = ["id", "day", "days", "created_at", "messages", "active_users", "emailed_at", "csv_url", "png_url"]
        read_only_fields = fields

    def get_csv_url(self, report: ActivityReport) -> str:
        return f"/api/reports/activity/{report.pk}/activity.csv"

    def get_png_url(self, report: ActivityReport) -> str:
        return f"/api/reports/activity/{report.pk}/chart.png"


class ActivityReportListApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={200: ActivityReportSerializer(many=True)})
    def get(self, request: Request) -> Response:
        """The daily activity reports, newest first (staff only)."""
        return Response(ActivityReportSerializer(activity_report_list(), many=True).data)


class ActivityReportCsvApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, report_id: int) -> HttpResponse:
        report = activity_report_get(report_id=report_id)
        response = HttpResponse(report.csv, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="activity-{report.day:%Y-%m-%d}.csv"'
        return response


class ActivityReportPngApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, report_id: int) -> HttpResponse:
        report = activity_report_get(report_id=report_id)
        response = HttpResponse(bytes(report.png), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="activity-{report.day:%Y-%m-%d}.png"'
        return response

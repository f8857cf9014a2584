from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import user_report_list
from .serializers import UserReportListInputSerializer, UserReportSerializer


class UserReportListApi(APIView):
    """The periodic user reports, newest first; staff only."""

    permission_classes = [IsAdminUser]

    @extend_schema(parameters=[UserReportListInputSerializer], responses={200: UserReportSerializer(many=True)})
    def get(self, request: Request) -> Response:
        params = UserReportListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(UserReportSerializer(user_report_list(**params.validated_data), many=True).data)

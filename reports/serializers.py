from rest_framework import serializers

from .models import UserReport


class UserReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserReport
        fields = [
            "id",
            "created_at",
            "total_users",
            "active_users",
            "joined_since_previous",
            "previous_at",
            "written_at",
            "notified_at",
            "error",
        ]
        read_only_fields = fields


class UserReportListInputSerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)

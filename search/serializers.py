from django.conf import settings
from rest_framework import serializers

from accounts.serializers import UserPublicSerializer
from core.fields import StrictCharField


class SearchInputSerializer(serializers.Serializer):
    q = StrictCharField(min_length=1, max_length=200, help_text='Words; "a phrase", -excluded, or (websearch syntax).')
    cursor = StrictCharField(required=False, max_length=200, help_text="`next` of the previous page.")
    limit = serializers.IntegerField(min_value=1, max_value=settings.SEARCH_PAGE_SIZE_MAX, default=20)


class SearchHitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    chat_id = serializers.IntegerField()
    author = UserPublicSerializer(allow_null=True)
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    rank = serializers.FloatField()
    headline = serializers.CharField(help_text="Matching fragments, matches between « and ».")


class SearchPageSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Send as `cursor` for the next page; null: no more.")

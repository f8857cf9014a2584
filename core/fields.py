"""What the apps' input serializers share: strict fields, and one way to validate a request's input."""

from typing import Any

from rest_framework import serializers

# The largest id PostgreSQL's bigint holds; larger cursor values are refused, not guessed.
MAX_ID = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """`data` (a request's body or query) through an input serializer: its validated data, or
    a ValidationError (400, the project's error body)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data

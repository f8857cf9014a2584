from rest_framework import serializers

# The largest id PostgreSQL's bigint holds; larger cursor values are refused, not guessed.
MAX_ID = 2**63 - 1


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

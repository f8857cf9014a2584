"""The API's JSON parser."""

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with a body nested too deep for Python's decoder refused as 400.

    DRF turns a ValueError into a ParseError but lets the decoder's RecursionError through,
    so `[[[[...]]]]` a few thousand levels deep (well under the body size limit) was a 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc

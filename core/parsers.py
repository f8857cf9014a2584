"""The API's JSON parser."""

import codecs
from typing import Any

import orjson
from django.utils.http import parse_header_parameters
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from .renderers import JSONRenderer


class JSONParser(parsers.JSONParser):
    """orjson (several times faster than the standard library's decoder) for UTF-8 bodies,
    DRF's parser for any other charset. Refused as 400, never a 500: a body nested too deep
    (orjson stops at 1,024 levels; Python's decoder raised RecursionError, which DRF let
    through), NaN or Infinity, invalid UTF-8 or a lone surrogate (PostgreSQL would refuse it
    later). An integer beyond 64 bits is read as a float (an integer field then refuses it)."""

    renderer_class = JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        if _charset(media_type) not in ("utf-8", "utf8"):
            try:
                return super().parse(stream, media_type, parser_context)
            except RecursionError as exc:
                raise ParseError("JSON parse error - nested too deeply.") from exc
        try:
            return orjson.loads(stream.read() if stream is not None else b"")
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _charset(media_type: str | None) -> str:
    _, params = parse_header_parameters(media_type or "")
    name = params.get("charset", "utf-8").lower()
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name

"""The API's JSON renderer: orjson, several times faster than the standard library's encoder
that DRF uses, with the same output for what the API answers (UTC times as `...Z`, compact,
UTF-8); anything orjson does not know goes through DRF's own encoder."""

from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_fallback = JSONEncoder()


def _default(value: Any) -> Any:
    """Lazy translations, Decimals, timedeltas, querysets...: as DRF would write them."""
    return _fallback.default(value)


def json_bytes(data: Any) -> bytes:
    """`data` as the API writes it: also what events carry (realtime.services), so an event's
    data and the API's answer for the same object are the same text."""
    return orjson.dumps(data, default=_default, option=_OPTIONS)


class JSONRenderer(DrfJSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)  # `; indent=4`: rare
        return json_bytes(data)

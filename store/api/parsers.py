"""JSON bodies the store can keep: no lone surrogates, no nesting deeper than the parser can follow."""
from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StoreJSONParser(JSONParser):
    """DRF's JSON parser, refusing as 400 (not 500) what would fail later in the database or the parser."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body nests too deeply") from exc
        try:
            # A lone surrogate (e.g. "\ud800") is valid JSON but no valid UTF-8: no database would store it.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParseError("JSON parse error - a string holds an unpaired surrogate (not valid Unicode)") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body nests too deeply") from exc
        return data

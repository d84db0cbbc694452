"""Opaque page tokens: where the next page starts, bound to the filters that made the first one."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from likeness.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    return DEFAULT_PAGE_SIZE if requested <= 0 else min(requested, MAX_PAGE_SIZE)


def _fingerprint(filters: Mapping[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(position: Mapping[str, Any], filters: Mapping[str, Any]) -> str:
    payload = json.dumps({"p": dict(position), "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: Mapping[str, Any]) -> dict[str, Any] | None:
    """The position a token names, or None for the first page; refuses tokens for other filters."""
    if not token:
        return None
    invalid = InvalidArgument(
        "page_token is not valid for this request; start again without one",
        [FieldViolation("page_token", "not a token from a previous page of this listing")],
    )
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(payload, dict) or payload.get("f") != _fingerprint(filters):
        raise invalid
    position = payload.get("p")
    if not isinstance(position, dict):
        raise invalid
    return position

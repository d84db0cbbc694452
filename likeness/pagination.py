"""Opaque page tokens: where the next page starts, signed, and bound to the brand, the call and the
filters that made the first page.

A token is ``base64(payload).base64(HMAC-SHA256(key, payload))``. The key is the services' shared
``page_token_secret`` setting (:func:`use_page_token_secret`, called at start-up); without one each
process draws its own, so a token is then good only on the replica that made it. Anything that is not a
token this platform signed for this caller, call and filters is INVALID_ARGUMENT: a forged or edited
token, another brand's token, a token of another listing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from likeness.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    return DEFAULT_PAGE_SIZE if requested <= 0 else min(requested, MAX_PAGE_SIZE)


_key = secrets.token_bytes(32)


def use_page_token_secret(secret: str) -> None:
    """Sign and check page tokens with this secret (every replica of every service the same)."""
    global _key
    if secret:
        _key = hashlib.sha256(b"likeness page tokens\x00" + secret.encode()).digest()


def _fingerprint(filters: Mapping[str, Any]) -> str:
    from likeness.rpc.auth import _current_principal
    from likeness.rpc.logging import method_var

    principal = _current_principal.get()
    scope = {"brand": principal.brand_id if principal else "", "method": method_var.get(), "filters": filters}
    canonical = json.dumps(scope, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


def _signature(payload: bytes) -> bytes:
    return hmac.new(_key, payload, hashlib.sha256).digest()[:16]


def encode_page_token(position: Mapping[str, Any], filters: Mapping[str, Any]) -> str:
    payload = json.dumps({"p": dict(position), "f": _fingerprint(filters)}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_signature(payload))}"


def decode_page_token(token: str, filters: Mapping[str, Any]) -> dict[str, Any] | None:
    """The position a token names, or None for the first page; refuses tokens for other filters."""
    if not token:
        return None
    invalid = InvalidArgument(
        "page_token is not valid for this request; start again without one",
        [FieldViolation("page_token", "not a token from a previous page of this listing")],
    )
    body, _, signature = token.partition(".")
    try:
        payload_bytes, signature_bytes = _unb64(body), _unb64(signature)
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not hmac.compare_digest(signature_bytes, _signature(payload_bytes)):
        raise invalid
    try:
        payload = json.loads(payload_bytes)
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(payload, dict) or payload.get("f") != _fingerprint(filters):
        raise invalid
    position = payload.get("p")
    if not isinstance(position, dict):
        raise invalid
    return position

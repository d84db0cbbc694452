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
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.rows import class_row

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


def _invalid() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not valid for this request; start again without one",
        [FieldViolation("page_token", "not a token from a previous page of this listing")],
    )


def decode_page_token(token: str, filters: Mapping[str, Any]) -> dict[str, Any] | None:
    """The position a token names, or None for the first page; refuses tokens for other filters."""
    if not token:
        return None
    invalid = _invalid()
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


R = TypeVar("R")


@dataclass(frozen=True)
class KeyField:
    """One field of a listing's position: how a token's value is read back, the query parameter it
    binds, and that parameter's value on the first page."""

    read: Callable[[Any], Any]
    param: str
    first: Any = None


class Keyset:
    """How one listing pages: the fields of its last row that a page token carries
    (``Keyset(t=KeyField(datetime.fromisoformat, "after_time"), id=KeyField(uuid.UUID, "after_id"))``
    for newest first by creation time and id). Every list call pages through one of these: its query
    takes the fields' parameters and ``limit`` (a page and one row more)."""

    def __init__(self, **fields: KeyField) -> None:
        self.fields = fields

    def after(self, token: str, filters: Mapping[str, Any]) -> dict[str, Any] | None:
        """The typed position after which the page starts; None for the first page."""
        position = decode_page_token(token, filters)
        if position is None:
            return None
        try:
            return {name: field.read(position[name]) for name, field in self.fields.items()}
        except (KeyError, TypeError, ValueError):
            raise _invalid() from None

    def bound(self, token: str, filters: Mapping[str, Any], size: int) -> dict[str, Any]:
        """The query parameters of the page ``token`` names: its position, and ``limit``."""
        position = self.after(token, filters)
        values = {
            field.param: field.first if position is None else position[name]
            for name, field in self.fields.items()
        }
        return {**values, "limit": size + 1}

    def page(
        self,
        rows: Sequence[R],
        size: int,
        filters: Mapping[str, Any],
        position: Callable[[R], Mapping[str, Any]],
    ) -> tuple[list[R], str]:
        """The page out of ``size + 1`` rows fetched, and the token of the next page ("" at the end);
        ``position`` gives a row's token fields."""
        if len(rows) <= size:
            return list(rows), ""
        return list(rows[:size]), encode_page_token(position(rows[size - 1]), filters)

    async def fetch(
        self,
        connection: AsyncConnection[Any],
        row_type: type[R],
        query: str,
        params: Mapping[str, Any],
        *,
        size: int,
        token: str,
        filters: Mapping[str, Any],
        position: Callable[[R], Mapping[str, Any]],
    ) -> tuple[list[R], str]:
        """One page of ``query``'s rows as ``row_type``, from the page ``token`` (bound to ``filters``)
        names; returns the rows and the next page's token."""
        cursor = connection.cursor(row_factory=class_row(row_type))
        await cursor.execute(query, {**params, **self.bound(token, filters, size)})
        return self.page(await cursor.fetchall(), size, filters, position)


#: Newest first by creation time, then id.
BY_TIME_AND_ID = Keyset(t=KeyField(datetime.fromisoformat, "after_time"), id=KeyField(uuid.UUID, "after_id"))


def time_and_id(created_at: datetime, row_id: Any) -> dict[str, str]:
    """A row's position in BY_TIME_AND_ID."""
    return {"t": created_at.isoformat(), "id": str(row_id)}

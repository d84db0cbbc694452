"""Every list call pages through one Keyset: typed positions read back from signed tokens, the next
page's token from the last row kept, and no token at the end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from likeness.errors import InvalidArgument
from likeness.pagination import BY_TIME_AND_ID, KeyField, Keyset, encode_page_token, time_and_id

pytestmark = pytest.mark.unit


def test_a_page_keeps_size_rows_and_names_the_last_one_in_its_token() -> None:
    rows = [(datetime(2026, 1, day, tzinfo=UTC), uuid.uuid4()) for day in range(1, 5)]
    page, token = BY_TIME_AND_ID.page(rows, 3, {"status": "active"}, lambda row: time_and_id(*row))
    assert page == rows[:3]
    assert BY_TIME_AND_ID.after(token, {"status": "active"}) == {"t": rows[2][0], "id": rows[2][1]}
    last, none = BY_TIME_AND_ID.page(rows[3:], 3, {"status": "active"}, lambda row: time_and_id(*row))
    assert last == rows[3:] and none == ""
    assert BY_TIME_AND_ID.after("", {"status": "active"}) is None


def test_a_signed_position_of_the_wrong_shape_or_for_other_filters_is_invalid() -> None:
    by_number = Keyset(after=KeyField(int, "after_sequence", 0))
    with pytest.raises(InvalidArgument):
        by_number.after(encode_page_token({"after": "x"}, {}), {})
    with pytest.raises(InvalidArgument):
        by_number.after(encode_page_token({"before": 3}, {}), {})
    with pytest.raises(InvalidArgument):
        by_number.after(encode_page_token({"after": 3}, {"action": "a"}), {"action": "b"})
    assert by_number.after(encode_page_token({"after": 3}, {}), {}) == {"after": 3}


def test_a_page_binds_its_position_or_the_first_values_and_one_row_more() -> None:
    by_number = Keyset(after=KeyField(int, "after_sequence", 0))
    assert by_number.bound("", {}, 10) == {"after_sequence": 0, "limit": 11}
    token = encode_page_token({"after": 7}, {"action": "a"})
    assert by_number.bound(token, {"action": "a"}, 5) == {"after_sequence": 7, "limit": 6}
    first = BY_TIME_AND_ID.bound("", {}, 2)
    assert first == {"after_time": None, "after_id": None, "limit": 3}

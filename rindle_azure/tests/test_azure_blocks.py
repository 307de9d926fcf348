"""The block-id scheme: fixed width, base64, derived from the part number, bound to the blob."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rindle_azure import MAX_BLOCKS, block_id, block_name, new_upload_id, part_number
from rindle_azure._blocks import is_upload_id

KEYS = st.text(min_size=1, max_size=200).filter(lambda k: "\x00" not in k)
NUMBERS = st.integers(min_value=1, max_value=MAX_BLOCKS)


@given(key=KEYS, number=NUMBERS)
def test_block_ids_have_one_width_and_decode_back(key: str, number: int) -> None:
    upload_id = new_upload_id(key)
    wire = block_id(upload_id, number)
    assert len(wire) == 40
    assert "=" not in wire  # 30 bytes: no padding
    assert base64.b64decode(wire, validate=True).decode("ascii") == block_name(upload_id, number)
    assert part_number(block_name(upload_id, number), upload_id) == number


@given(key=KEYS, a=NUMBERS, b=NUMBERS)
def test_distinct_parts_have_distinct_ids(key: str, a: int, b: int) -> None:
    upload_id = new_upload_id(key)
    assert (block_id(upload_id, a) == block_id(upload_id, b)) == (a == b)


def test_block_ids_sort_like_part_numbers_when_decoded() -> None:
    upload_id = new_upload_id("k")
    names = [block_name(upload_id, n) for n in (1, 2, 10, 100, 50_000)]
    assert names == sorted(names)


@given(key=KEYS)
def test_upload_ids_are_bound_to_their_blob(key: str) -> None:
    upload_id = new_upload_id(key)
    assert len(upload_id) == 24
    assert is_upload_id(upload_id, key)
    assert not is_upload_id(upload_id, key + "x")
    assert new_upload_id(key) != upload_id


def test_foreign_and_malformed_block_names_are_ignored() -> None:
    mine, other = new_upload_id("k"), new_upload_id("k")
    assert part_number(block_name(other, 3), mine) is None
    for name in ("", "hello", f"{mine}.00000", f"{mine}.50001", f"{mine}.1", f"{mine}.000001"):
        assert part_number(name, mine) is None


@pytest.mark.parametrize("number", [0, -1, MAX_BLOCKS + 1, True, 1.0])
def test_part_numbers_outside_the_limit_are_refused(number: object) -> None:
    with pytest.raises(ValueError):
        block_id(new_upload_id("k"), number)  # type: ignore[arg-type]


def test_malformed_upload_ids_are_refused() -> None:
    for bad in ("", "x" * 24, "ABCDEF0123456789abcdef01", "0" * 23):
        assert not is_upload_id(bad, "k")
        with pytest.raises(ValueError):
            block_name(bad, 1)
    assert not is_upload_id(None, "k")

"""`pg_array_literal` writes PostgreSQL's text form of an array: its fast paths (all integers; all strings with
nothing to escape) say exactly what the element-by-element escaping says. That PostgreSQL reads them back as
the values sent: tests/contract/test_store_arrays.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outbox.bulk import pg_array_literal


def escaped_one_by_one(values: list[int] | list[str]) -> str:
    parts = [str(v) if isinstance(v, int) else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
             for v in values]
    return "{" + ",".join(parts) + "}"


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)) | st.lists(st.text()))
def test_every_form_is_the_element_by_element_escaping(values: list[int] | list[str]) -> None:
    assert pg_array_literal(values) == escaped_one_by_one(values)
    assert pg_array_literal(iter(values)) == escaped_one_by_one(values)


def test_quotes_and_backslashes_are_escaped_and_other_types_refused() -> None:
    assert pg_array_literal(["a", 'b"c', "d\\e"]) == '{"a","b\\"c","d\\\\e"}'
    assert pg_array_literal([1, "x"]) == '{1,"x"}'
    with pytest.raises(TypeError, match="float"):
        pg_array_literal([1.5])  # type: ignore[list-item]

"""The fast JSON pretty-printer writes exactly what json.dumps(indent=2) writes."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.render import dump_json, pretty_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=300)
@given(JSON_VALUES)
def test_pretty_json_is_json_dumps_with_indent_2(value):
    assert pretty_json(value) == json.dumps(value, ensure_ascii=False, indent=2)


def test_nested_indent_and_tuples():
    document = {"items": ({"tags": ["ä", "<b>"], "n": 1.5},), "empty": {}, "none": []}
    assert dump_json(document) == (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
    assert pretty_json({"a": [1]}, "    ") == '{\n      "a": [\n        1\n      ]\n    }'

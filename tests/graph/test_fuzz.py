"""Property tests: round trips of generated funnels; malformed input never crashes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.demo import load_demo_funnels
from graph.document import FunnelDocument
from graph.loading import FunnelLoadError, dump_funnel, funnel_to_dict, load_funnel
from graph.validation import validate_funnel

from .strategies import funnel_shaped, json_values, mutated, valid_funnels

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEMO_DICTS = [funnel_to_dict(doc) for doc in load_demo_funnels()]


def load_or_fail_cleanly(source: str | dict[str, Any]) -> FunnelDocument | None:
    """The only allowed outcomes: a document (whose problems can be listed) or FunnelLoadError."""
    try:
        doc = load_funnel(source)
    except FunnelLoadError as exc:
        assert exc.problems and all(p.message and p.message_ru for p in exc.problems)
        return None
    problems = validate_funnel(doc)
    assert all(p.message and p.message_ru for p in problems)
    text = dump_funnel(doc)
    assert load_funnel(text) == doc, "a loaded document must round-trip"
    return doc


@FAST
@given(valid_funnels())
def test_generated_valid_funnels_round_trip_and_validate(data: dict[str, Any]) -> None:
    doc = load_funnel(data)
    assert validate_funnel(doc) == []
    text = dump_funnel(doc)
    assert load_funnel(text) == doc
    assert dump_funnel(load_funnel(text)) == text


@FAST
@given(funnel_shaped())
def test_random_nodes_and_edges_never_crash(data: dict[str, Any]) -> None:
    assert load_or_fail_cleanly(data) is not None


@FAST
@given(json_values)
def test_random_json_never_crashes(value: Any) -> None:
    load_or_fail_cleanly(json.dumps(value))


@FAST
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_random_text_never_crashes(text: str | bytes) -> None:
    load_or_fail_cleanly(text)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DEMO_DICTS).flatmap(mutated))
def test_mutated_demo_documents_never_crash(data: dict[str, Any]) -> None:
    load_or_fail_cleanly(data)
    load_or_fail_cleanly(json.dumps(data, ensure_ascii=False))

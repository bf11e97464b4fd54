"""Project names: what is accepted, what is refused, and how slugs are made."""

from __future__ import annotations

import pytest

from db.errors import InvalidProjectNameError
from db.naming import normalize_project_name, project_name_key, slugify


@pytest.mark.parametrize("name", ["EMA", "Надежда", "Test 2", "my_project-1", "Ёлка", "x" * 64])
def test_valid_names_are_accepted(name: str) -> None:
    assert normalize_project_name(name) == name


def test_outer_spaces_are_trimmed() -> None:
    assert normalize_project_name("  EMA ") == "EMA"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "at most 64"),
        ("a/b", "'/'"),
        ("EMA!", "'!'"),
        ("tab\there", "'\\t'"),
        ("emoji 🚀", "use letters"),
    ],
)
def test_invalid_names_are_refused_with_a_reason(name: str, message: str) -> None:
    with pytest.raises(InvalidProjectNameError, match=message.replace("\\", "\\\\")) as info:
        normalize_project_name(name)
    assert "\n" not in str(info.value)


def test_name_key_ignores_case_and_outer_spaces() -> None:
    assert project_name_key(" Надежда ") == project_name_key("НАДЕЖДА")


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Надежда", "nadezhda"),
        ("EMA", "ema"),
        ("Test 2", "test-2"),
        ("Щука  и  ёж", "shchuka-i-ezh"),
        ("my_project", "my-project"),
        ("Café", "cafe"),
        ("日本", "project"),
        ("---", "project"),
    ],
)
def test_slugs_are_ascii_and_transliterated(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_long_slugs_are_cut_without_a_trailing_dash() -> None:
    slug = slugify("щ" * 64)
    assert len(slug) <= 40
    assert not slug.endswith("-")

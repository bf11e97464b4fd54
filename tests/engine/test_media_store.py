"""The content-addressed media store of a project (engine/media_store.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.media_store import (
    MediaStore,
    MediaStoreError,
    MediaTooLargeError,
    copy_media,
    is_stored_source,
    sanitize_name,
)


def test_sanitize_name() -> None:
    assert sanitize_name("C:\\Users\\me\\photo.png") == "photo.png"
    assert sanitize_name("..") == "file" and sanitize_name("") == "file"
    assert sanitize_name(".hidden") == "hidden"
    long = sanitize_name("я" * 300 + ".jpeg")
    assert len(long) == 120 and long.endswith(".jpeg")


def test_save_file_dedupes_and_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    original = tmp_path / "offer.jpg"
    original.write_bytes(b"jpeg bytes")
    store = MediaStore(tmp_path / "project", max_bytes=10)
    first = store.save_file(original)
    assert first.created and is_stored_source(first.source)
    assert store.path_of(first.source).read_bytes() == b"jpeg bytes"
    assert store.save_file(original).created is False
    with pytest.raises(MediaStoreError, match="not a stored media source"):
        store.path_of(f"media/{'a' * 64}/..")
    with pytest.raises(MediaStoreError, match="no such file"):
        store.save_file(tmp_path / "nope.jpg")
    original.write_bytes(b"now eleven!")
    with pytest.raises(MediaTooLargeError, match="limit of 10 bytes"):
        store.save_file(original)


def test_copy_media_names_files_gone_from_the_source(tmp_path: Path) -> None:
    source, target = tmp_path / "a", tmp_path / "b"
    present = f"media/{'b' * 64}/here.jpg"
    (source / present).parent.mkdir(parents=True)
    (source / present).write_bytes(b"here")
    missing = f"media/{'a' * 64}/gone.jpg"
    assert copy_media({missing, present, "not/stored.jpg"}, source, target) == [missing]
    assert (target / present).read_bytes() == b"here"
    assert [p.name for p in target.rglob("*") if p.is_file()] == ["here.jpg"]

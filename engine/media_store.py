"""The media files of a project, stored in the workspace and named by their content.

Layout::

    <workspace>/projects/<slug>/                  the project's file folder (``project_root``)
    <workspace>/projects/<slug>/media/<sha256>/<name>   one uploaded file

A funnel document keeps such a file as the relative source ``media/<sha256>/<name>``;
the bot connector resolves relative sources against the project's file folder
(``TelegramBotConfig.media_root``). Content addressing makes a re-upload of the same
bytes a no-op (the same name gives the same source; another name is a hard link to the
same bytes), lets copies of robots between projects keep their sources unchanged (the
files are copied along, :func:`copy_media`) and keeps the connector's upload cache
(path + mtime → Telegram file_id) valid for ever.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_MEDIA_BYTES = 50 * 1024 * 1024
"""Largest file accepted: what the Bot API lets a bot upload (50 MB)."""

MEDIA_DIR = "media"
_STORED_RE = re.compile(r"^media/([0-9a-f]{64})/([^/\\]+)$")
_BAD_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_NAME_MAX = 120


class MediaStoreError(Exception):
    """A media file cannot be stored or found (the message says why)."""


class MediaTooLargeError(MediaStoreError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(too_large_message(limit))


def too_large_message(limit: int) -> str:
    human = human_limit(limit)
    exact = "" if human == f"{limit} bytes" else f" ({limit} bytes)"
    return f"the file is larger than the limit of {human}{exact}"


def human_limit(size: int) -> str:
    """50 MB for 52428800 (binary megabytes, as Telegram counts)."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def project_root(workspace_dir: Path, slug: str) -> Path:
    """The project's file folder: relative media sources are resolved against it."""
    return Path(workspace_dir) / "projects" / slug


def sanitize_name(name: str) -> str:
    """A safe file name from what the client sent: the last path part, no control or
    reserved characters, no leading dots, at most 120 characters (the suffix kept)."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = unicodedata.normalize("NFC", base)
    base = _BAD_CHARS.sub("_", base).strip().lstrip(".").strip()
    if not base:
        return "file"
    if len(base) > _NAME_MAX:
        stem, dot, suffix = base.rpartition(".")
        if dot and 0 < len(suffix) <= 16:
            base = stem[: _NAME_MAX - len(suffix) - 1] + "." + suffix
        else:
            base = base[:_NAME_MAX]
    return base


def is_stored_source(source: str) -> bool:
    """True for a source of this store (``media/<sha256>/<name>``)."""
    return bool(_STORED_RE.match(source))


def stored_sources(document: Any) -> set[str]:
    """Every stored-media source anywhere in a funnel document (as dict/list JSON)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if is_stored_source(value):
                found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(document)
    return found


@dataclass(frozen=True)
class StoredMedia:
    source: str
    """Relative source to keep in the document, ``media/<sha256>/<name>``."""
    sha256: str
    size: int
    created: bool
    """False when these bytes were already stored (a deduplicated re-upload)."""


class MediaStore:
    """The media folder of one project."""

    def __init__(self, root: Path, max_bytes: int = MAX_MEDIA_BYTES) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    @classmethod
    def of(cls, workspace_dir: Path, slug: str, max_bytes: int = MAX_MEDIA_BYTES) -> MediaStore:
        return cls(project_root(workspace_dir, slug), max_bytes)

    def path_of(self, source: str) -> Path:
        """The file of a stored source (MediaStoreError if it is not one or is missing)."""
        match = _STORED_RE.match(source)
        if match is None or sanitize_name(match.group(2)) != match.group(2):
            raise MediaStoreError(f"not a stored media source: {source!r}")
        path = self.root / MEDIA_DIR / match.group(1) / match.group(2)
        if not path.is_file():
            raise MediaStoreError(f"no stored media file {source!r}")
        return path

    async def save_stream(self, name: str, chunks: AsyncIterable[bytes]) -> StoredMedia:
        """Store the bytes of ``chunks`` as ``name``; MediaTooLargeError past the limit
        (detected while reading: nothing more is read or kept)."""
        media = self.root / MEDIA_DIR
        media.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle, temp_name = tempfile.mkstemp(prefix=".upload-", dir=media)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise MediaTooLargeError(self.max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            return self._place(temp, digest.hexdigest(), sanitize_name(name), size)
        finally:
            temp.unlink(missing_ok=True)

    def save_file(self, path: Path, name: str | None = None) -> StoredMedia:
        """Store a copy of a local file (the embedded backend's upload)."""
        path = Path(path)
        if not path.is_file():
            raise MediaStoreError(f"no such file: {path}")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise MediaTooLargeError(self.max_bytes)
        media = self.root / MEDIA_DIR
        media.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        handle, temp_name = tempfile.mkstemp(prefix=".upload-", dir=media)
        temp = Path(temp_name)
        try:
            with os.fdopen(handle, "wb") as out, path.open("rb") as source:
                for chunk in iter(lambda: source.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
            return self._place(temp, digest.hexdigest(), sanitize_name(name or path.name), size)
        finally:
            temp.unlink(missing_ok=True)

    def _place(self, temp: Path, sha: str, name: str, size: int) -> StoredMedia:
        folder = self.root / MEDIA_DIR / sha
        target = folder / name
        source = f"{MEDIA_DIR}/{sha}/{name}"
        if target.is_file():
            return StoredMedia(source, sha, size, created=False)
        folder.mkdir(parents=True, exist_ok=True)
        existing = next((p for p in folder.iterdir() if p.is_file()), None)
        if existing is not None:  # same bytes under another name: link, don't copy
            try:
                os.link(existing, target)
            except FileExistsError:
                pass
            except OSError:
                shutil.copyfile(existing, target)
            return StoredMedia(source, sha, size, created=False)
        os.replace(temp, target)  # atomic: a reader never sees half a file
        return StoredMedia(source, sha, size, created=True)


def copy_media(sources: Iterable[str], source_root: Path, target_root: Path) -> list[str]:
    """Copy stored media files from one project's folder to another's (same relative
    sources: the files are named by content); the sources missing in the source project,
    which stay missing in the copy."""
    missing: list[str] = []
    for source in sorted(sources):
        if not is_stored_source(source):
            continue
        origin = source_root / source
        target = target_root / source
        if target.is_file():
            continue
        if not origin.is_file():
            missing.append(source)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".copy-{os.getpid()}-{target.name}")
        try:
            shutil.copyfile(origin, temp)
            os.replace(temp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    return missing

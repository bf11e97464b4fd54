"""Media files of a project: uploaded by the desktop editor, sent by the project's bots.

The upload is the raw request body (``Content-Type`` of the file, ``?name=`` its file
name), read as a stream so the size limit stops an oversized upload early and no
multipart parser is needed. The answer's ``source`` goes into the funnel document.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from engine.api.auth import Editor, Reader
from engine.media_store import (
    MAX_MEDIA_BYTES,
    MediaStore,
    MediaStoreError,
    MediaTooLargeError,
    too_large_message,
)

router = APIRouter(tags=["media"])


class MediaOut(BaseModel):
    source: str
    sha256: str
    size: int
    created: bool


def _store(ctx: Reader | Editor, request: Request) -> MediaStore:
    limit = getattr(request.app.state, "media_max_bytes", MAX_MEDIA_BYTES)
    return MediaStore.of(ctx.state.service.workspace.directory, ctx.project.slug, int(limit))


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        413,  # Content Too Large
        detail=too_large_message(limit),
    )


@router.post(
    "/projects/{project}/media",
    response_model=MediaOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_media(
    ctx: Editor,
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=255, description="The file's name")],
) -> MediaOut:
    """Store a media file (the request body) in the project; its ``source`` for a funnel
    document. The same bytes uploaded again give the same source (stored once)."""
    store = _store(ctx, request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > store.max_bytes:
        raise _too_large(store.max_bytes)
    try:
        stored = await store.save_stream(name, request.stream())
    except MediaTooLargeError as exc:
        raise _too_large(exc.limit) from exc
    return MediaOut(
        source=stored.source, sha256=stored.sha256, size=stored.size, created=stored.created
    )


@router.get("/projects/{project}/media/{sha256}/{name}", response_class=FileResponse)
async def get_media(ctx: Reader, request: Request, sha256: str, name: str) -> FileResponse:
    """A stored media file (e.g. for the editor's preview)."""
    try:
        path = _store(ctx, request).path_of(f"media/{sha256}/{name}")
    except MediaStoreError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    media_type, _ = mimetypes.guess_type(path.name)
    return FileResponse(path, media_type=media_type or "application/octet-stream")

"""The workspace registry: creating, listing, finding and deleting projects."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from db.errors import (
    InvalidProjectNameError,
    InvalidTimezoneError,
    ProjectExistsError,
    ProjectNotFoundError,
    UnsupportedDatabaseUrlError,
    WorkspaceError,
)
from db.registry import DEFAULT_TIMEZONE, DatabaseKind
from db.workspace import Workspace, resolve_workspace_dir


async def test_create_and_list_projects(workspace: Workspace) -> None:
    ema = await workspace.create_project("EMA")
    nadezhda = await workspace.create_project("Надежда", timezone="Asia/Yekaterinburg")

    projects = await workspace.list_projects()

    assert [p.name for p in projects] == ["EMA", "Надежда"]
    assert (ema.slug, nadezhda.slug) == ("ema", "nadezhda")
    assert ema.timezone == DEFAULT_TIMEZONE == "Europe/Moscow"
    assert nadezhda.timezone == "Asia/Yekaterinburg"
    assert ema.database_kind is DatabaseKind.SQLITE
    assert ema.created_at.tzinfo is not None


async def test_registry_survives_reopening(workspace_dir: Path) -> None:
    async with await Workspace.open(workspace_dir) as ws:
        created = await ws.create_project("EMA")
    async with await Workspace.open(workspace_dir) as ws:
        assert await ws.list_projects() == [created]


@pytest.mark.parametrize("duplicate", ["EMA", "ema", " Ema "])
async def test_duplicate_names_are_refused_case_insensitively(
    workspace: Workspace, duplicate: str
) -> None:
    await workspace.create_project("EMA")
    with pytest.raises(ProjectExistsError, match="already exists"):
        await workspace.create_project(duplicate)
    assert len(await workspace.list_projects()) == 1


async def test_cyrillic_duplicates_are_refused_case_insensitively(workspace: Workspace) -> None:
    await workspace.create_project("Надежда")
    with pytest.raises(ProjectExistsError):
        await workspace.create_project("НАДЕЖДА")


@pytest.mark.parametrize("name", ["", "a/b", "x" * 65, "drop;table"])
async def test_invalid_names_are_refused(workspace: Workspace, name: str) -> None:
    with pytest.raises(InvalidProjectNameError):
        await workspace.create_project(name)
    assert await workspace.list_projects() == []
    assert list(workspace.projects_dir.iterdir()) == []


async def test_errors_share_a_base_class_for_the_cli(workspace: Workspace) -> None:
    await workspace.create_project("EMA")
    for bad_call in (
        workspace.create_project("EMA"),
        workspace.create_project("a/b"),
        workspace.create_project("Other", timezone="Mars/Olympus"),
        workspace.get_project("missing"),
    ):
        with pytest.raises(WorkspaceError):
            await bad_call


async def test_unknown_timezone_is_refused(workspace: Workspace) -> None:
    with pytest.raises(InvalidTimezoneError, match="Mars/Olympus"):
        await workspace.create_project("EMA", timezone="Mars/Olympus")


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "sqlite:///x.db", "::not a url::"])
async def test_non_postgres_database_urls_are_refused(workspace: Workspace, url: str) -> None:
    with pytest.raises(UnsupportedDatabaseUrlError):
        await workspace.create_project("EMA", database_url=url)


async def test_get_project_by_name_or_slug(workspace: Workspace) -> None:
    created = await workspace.create_project("Надежда")
    assert await workspace.get_project("надежда") == created
    assert await workspace.get_project("nadezhda") == created
    assert await workspace.find_project("nobody") is None
    with pytest.raises(ProjectNotFoundError, match="nobody"):
        await workspace.get_project("nobody")


async def test_names_with_the_same_slug_get_distinct_slugs(workspace: Workspace) -> None:
    first = await workspace.create_project("Test 1")
    second = await workspace.create_project("Test-1")
    assert (first.slug, second.slug) == ("test-1", "test-1-2")


async def test_a_leftover_database_file_is_never_reused(workspace: Workspace) -> None:
    leftover = workspace.projects_dir / "ema.sqlite3"
    leftover.write_bytes(b"someone's data")
    project = await workspace.create_project("EMA")
    assert project.slug == "ema-2"
    assert leftover.read_bytes() == b"someone's data"


async def test_delete_project_removes_it_and_its_file(workspace: Workspace) -> None:
    project = await workspace.create_project("EMA")
    db = await workspace.open_project_db(project)
    await db.dispose()
    db_file = workspace.projects_dir / "ema.sqlite3"
    assert db_file.exists()

    await workspace.delete_project("ema")

    assert await workspace.list_projects() == []
    assert not any(workspace.projects_dir.iterdir())
    with pytest.raises(ProjectNotFoundError):
        await workspace.delete_project("EMA")


async def test_delete_project_removes_its_media_folder(workspace: Workspace) -> None:
    project = await workspace.create_project("EMA")
    media = workspace.project_files_dir(project.slug) / "media" / "abc" / "photo.jpg"
    media.parent.mkdir(parents=True)
    media.write_bytes(b"jpeg")
    await workspace.delete_project("EMA")
    assert not workspace.project_files_dir(project.slug).exists()


async def test_a_leftover_media_folder_is_never_adopted(workspace: Workspace) -> None:
    (workspace.project_files_dir("ema") / "media").mkdir(parents=True)
    project = await workspace.create_project("EMA")
    assert project.slug == "ema-2"


async def test_delete_project_can_keep_the_data(workspace: Workspace) -> None:
    await workspace.create_project("EMA")
    await workspace.delete_project("EMA", drop_database=False)
    assert (workspace.projects_dir / "ema.sqlite3").exists()


def test_workspace_dir_explicit_beats_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VORONKA_WORKSPACE", str(tmp_path / "from-env"))
    assert resolve_workspace_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert resolve_workspace_dir(None) == tmp_path / "from-env"


def test_workspace_dir_defaults_to_the_user_data_dir() -> None:
    expected = Path(platformdirs.user_data_dir("voronka", appauthor=False)).resolve()
    assert resolve_workspace_dir(None) == expected


def test_project_repr_hides_the_database_password(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from db.workspace import Project

    project = Project(
        id=1,
        name="EMA",
        slug="ema",
        database_kind=DatabaseKind.POSTGRESQL,
        database_url="postgresql+asyncpg://u:hunter2@db/voronka_ema",
        timezone="Europe/Moscow",
        created_at=datetime.now(UTC),
    )
    assert "hunter2" not in repr(project)
    assert project.display_location == "postgresql+asyncpg://u:***@db/voronka_ema"


async def test_display_location_of_a_sqlite_project_is_its_file(workspace: Workspace) -> None:
    project = await workspace.create_project("EMA")
    assert project.display_location == str(workspace.projects_dir / "ema.sqlite3")


async def test_a_registry_from_a_newer_version_is_refused(workspace_dir: Path) -> None:
    import sqlite3

    async with await Workspace.open(workspace_dir):
        pass
    with sqlite3.connect(workspace_dir / "workspace.sqlite3") as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(WorkspaceError, match="newer Voronka"):
        await Workspace.open(workspace_dir)

"""Secrets at rest: Fernet round trip, key from the environment or a 0600 key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from db.errors import SecretDecryptionError, SecretKeyError
from db.models import Channel, ChannelKind, Secret, SecretPurpose
from db.secrets import KEY_FILE_NAME, SECRET_KEY_ENV, SecretBox, load_secret_box
from db.workspace import Workspace

BOT_TOKEN = "123456789:AAE-very-secret-bot-token_xyz"

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def test_round_trip_and_ciphertext_hides_the_plaintext(tmp_path: Path) -> None:
    box = load_secret_box(tmp_path)
    token = box.encrypt(BOT_TOKEN)

    assert BOT_TOKEN not in token
    assert "very-secret" not in token
    assert box.encrypt(BOT_TOKEN) != token  # randomised
    assert box.decrypt(token).get_secret_value() == BOT_TOKEN


def test_reprs_never_show_plaintext_or_key(tmp_path: Path) -> None:
    box = load_secret_box(tmp_path)
    revealed = box.decrypt(box.encrypt(BOT_TOKEN))
    key = (tmp_path / KEY_FILE_NAME).read_text().strip()
    for shown in (repr(box), str(box), repr(revealed), str(revealed), f"{revealed}"):
        assert BOT_TOKEN not in shown
        assert key not in shown


@posix_only
def test_key_file_is_created_with_mode_0600_and_reused(tmp_path: Path) -> None:
    token = load_secret_box(tmp_path).encrypt(BOT_TOKEN)
    key_file = tmp_path / KEY_FILE_NAME

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_box(tmp_path).decrypt(token).get_secret_value() == BOT_TOKEN


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o666])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    load_secret_box(tmp_path)
    key_file = tmp_path / KEY_FILE_NAME
    key_file.chmod(mode)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_secret_box(tmp_path)


def test_key_from_environment_takes_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SecretBox.generate_key().decode()
    monkeypatch.setenv(SECRET_KEY_ENV, key)
    token = load_secret_box(tmp_path).encrypt(BOT_TOKEN)

    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert SecretBox([key.encode()]).decrypt(token).get_secret_value() == BOT_TOKEN


def test_key_rotation_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    old_token = SecretBox([old]).encrypt(BOT_TOKEN)
    monkeypatch.setenv(SECRET_KEY_ENV, f"{new.decode()},{old.decode()}")
    box = load_secret_box(tmp_path)

    rotated = box.rotate(old_token)

    assert SecretBox([new]).decrypt(rotated).get_secret_value() == BOT_TOKEN
    assert box.decrypt(old_token).get_secret_value() == BOT_TOKEN


def test_malformed_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SECRET_KEY_ENV, "not-a-fernet-key")
    with pytest.raises(SecretKeyError, match="malformed"):
        load_secret_box(tmp_path)


def test_wrong_key_or_tampering_is_a_clear_error(tmp_path: Path) -> None:
    token = SecretBox([SecretBox.generate_key()]).encrypt(BOT_TOKEN)
    with pytest.raises(SecretDecryptionError, match="wrong"):
        SecretBox([SecretBox.generate_key()]).decrypt(token)
    box = load_secret_box(tmp_path)
    good = box.encrypt(BOT_TOKEN)
    with pytest.raises(SecretDecryptionError):
        box.decrypt(good[:-4] + "AAAA")


async def test_secrets_are_stored_encrypted_in_the_project_database(workspace: Workspace) -> None:
    project = await workspace.create_project("EMA")
    box = workspace.secret_box()
    async with await workspace.open_project_db(project) as db:
        async with db.session() as session, session.begin():
            bot = Channel(kind=ChannelKind.BOT, name="Open bot")
            bot.secrets.append(
                Secret(purpose=SecretPurpose.BOT_TOKEN, ciphertext=box.encrypt(BOT_TOKEN))
            )
            session.add(bot)
        async with db.session() as session:
            stored = await session.scalar(select(Secret))
    assert stored is not None
    assert BOT_TOKEN not in repr(stored)
    assert box.decrypt(stored.ciphertext).get_secret_value() == BOT_TOKEN
    raw = (workspace.projects_dir / f"{project.slug}.sqlite3").read_bytes()
    wal = workspace.projects_dir / f"{project.slug}.sqlite3-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert BOT_TOKEN.encode() not in raw

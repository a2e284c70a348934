import os
import sys
from pathlib import Path

import pytest

from bot.cli import main


def test_demo_data_then_run_opens_the_console(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    assert main(["demo-data", "--if-empty"]) == 0
    assert "loaded" in capsys.readouterr().out
    assert main(["demo-data", "--if-empty"]) == 0
    assert "already holds a city" in capsys.readouterr().out
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("/quit\n"))
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "no messenger is configured" in out and "Deutsch" in out


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_database_folder_is_one_clear_error(monkeypatch, tmp_path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{folder}/bot.db")
    assert main(["db", "upgrade"]) == 2
    assert "not writable" in capsys.readouterr().err


def test_missing_database_folder_that_cannot_be_made(monkeypatch, tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{blocker}/sub/bot.db")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create the database folder" in err[0]

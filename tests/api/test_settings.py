"""Where the log key is looked for: beside the SQLite file, however its URL is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import default_log_key_path


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{dir}/log.db",
        "sqlite+pysqlite:///{dir}/log.db",
        "sqlite:///{dir}/log.db?timeout=5",
    ],
)
def test_the_log_key_lies_beside_the_sqlite_file(url: str, tmp_path: Path) -> None:
    assert default_log_key_path(url.format(dir=tmp_path)) == tmp_path / "multitude-log.key"


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db", "not a url"]
)
def test_without_a_sqlite_file_the_log_key_is_in_the_working_directory(url: str) -> None:
    assert default_log_key_path(url) == Path("multitude-log.key").resolve()

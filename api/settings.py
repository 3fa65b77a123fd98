"""The server's settings, from the environment (`MULTITUDE_*`) or given by the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.db import DEFAULT_URL, sqlite_file


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MULTITUDE_", extra="ignore")

    db: str = DEFAULT_URL
    log_key: Path | None = None
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 1,000 entries of the largest kind fits
    max_entry_bytes: int = 64 * 1024
    events_poll_seconds: float = 0.2


def default_log_key_path(db_url: str) -> Path:
    """SPEC section 8: `multitude-log.key` beside the SQLite file, else in the working directory."""
    file = sqlite_file(db_url)
    if file is not None:
        return file.resolve().parent / "multitude-log.key"
    return Path("multitude-log.key").resolve()

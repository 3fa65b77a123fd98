"""The server's settings, from the environment (`MULTITUDE_*`) or given by the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.db import DEFAULT_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MULTITUDE_", extra="ignore")

    db: str = DEFAULT_URL
    log_key: Path | None = None
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 1,000 entries of the largest kind fits
    max_entry_bytes: int = 64 * 1024
    events_poll_seconds: float = 0.2
    events_keepalive_seconds: float = 15.0  # a comment line on idle streams, for proxies


def default_log_key_path(db_url: str) -> Path:
    """SPEC section 8: `multitude-log.key` beside the SQLite file, else in the working directory."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url[len(prefix) :] not in ("", ":memory:"):
        return Path(db_url[len(prefix) :]).expanduser().resolve().parent / "multitude-log.key"
    return Path("multitude-log.key").resolve()

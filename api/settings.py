"""The server's settings, from the environment (`MULTITUDE_*`) or given by the command line."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.db import DEFAULT_URL, sqlite_file

_ORIGIN = re.compile(r"https?://([^/\s:@\[\]]+|\[[0-9a-fA-F:.]+\])(:\d{1,5})?")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MULTITUDE_", extra="ignore")

    db: str = DEFAULT_URL
    log_key: Path | None = None
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 1,000 entries of the largest kind fits
    max_entry_bytes: int = 64 * 1024
    events_poll_seconds: float = 0.2
    events_keepalive_seconds: float = 15.0  # a comment line on idle streams, for proxies
    # Writes (POST /v1/entries, /v1/entries/batch; a batch is one) a client address may send
    # a minute, in a burst or spread out; 0 turns the limit off. Counted in each worker
    # process on its own (api/limits.py), so N workers let a client send up to N times this.
    write_limit_per_minute: int = Field(default=600, ge=0)
    # Origins whose pages may call the API from a browser (CORS), e.g. https://dash.example.org;
    # "*" for any. None by default: only the dashboard this server serves itself.
    # From the environment: MULTITUDE_CORS_ORIGINS='["https://dash.example.org"]'.
    cors_origins: list[str] = Field(default_factory=list)
    # Set by `serve --workers N` (N > 1) for its workers: the Unix socket of the append
    # process that appends for all of them (ledger/append_process.py), and its key in hex.
    appends: str | None = None
    appends_key: str | None = None

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], such as "
                    "https://dash.example.org, with no path and no trailing slash (or *)"
                )
        return origins


def default_log_key_path(db_url: str) -> Path:
    """SPEC section 8: `multitude-log.key` beside the SQLite file, else in the working directory."""
    file = sqlite_file(db_url)
    if file is not None:
        return file.resolve().parent / "multitude-log.key"
    return Path("multitude-log.key").resolve()

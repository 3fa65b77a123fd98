"""Ed25519 key files (SPEC section 1): the 32-byte seed as 64 hex characters and a newline,
readable by its owner only. A member or a log is named by its public key in lowercase hex."""

from __future__ import annotations

import os
import re
from pathlib import Path

from nacl.signing import SigningKey

from ledger.errors import LedgerError

_SEED = re.compile(r"[0-9a-f]{64}\n?")


class KeyFileError(LedgerError):
    """A key file is missing, unreadable, malformed, or would be overwritten."""


def public_hex(key: SigningKey) -> str:
    return bytes(key.verify_key).hex()


def generate() -> SigningKey:
    return SigningKey.generate()


def write_key(path: Path, key: SigningKey) -> None:
    """Write `key` to a new file with mode 0600; never overwrite an existing file."""
    seed = bytes(key).hex() + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(seed)
        handle.flush()
        os.fsync(handle.fileno())


def read_key(path: Path) -> SigningKey:
    """Read a key file; raise `KeyFileError` with a clear reason otherwise."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc}") from None
    if not _SEED.fullmatch(text):
        raise KeyFileError(
            f"{path} is not a key file: expected 64 lowercase hex characters and a newline"
        )
    return SigningKey(bytes.fromhex(text[:64]))

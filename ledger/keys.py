"""Ed25519 key files (SPEC section 1): the 32-byte seed as 64 hex characters and a newline,
readable by its owner only. A member or a log is named by its public key in lowercase hex, and a
log's default network name is derived from its public key (SPEC sections 2 and 8)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from ledger.errors import LedgerError

_SEED = re.compile(r"[0-9a-f]{64}\n?")
_NOT_A_KEY = "not a key file (64 hex characters expected; make one with `multitude keygen`)"


class KeyFileError(LedgerError):
    """A key file is missing, unreadable, malformed, or would be overwritten."""


def public_hex(key: SigningKey) -> str:
    return bytes(key.verify_key).hex()


def default_network(log_key: VerifyKey) -> str:
    """SPEC section 2: `multitude-` and the first 8 hex characters of SHA-256 of the log's public
    key (its 32 bytes), so two logs made with the defaults never accept each other's entries."""
    return "multitude-" + hashlib.sha256(bytes(log_key)).hexdigest()[:8]


def default_origin(network: str) -> str:
    """SPEC section 8: a network's origin when none is given."""
    return f"localhost/{network}"


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
    except IsADirectoryError:
        raise KeyFileError(f"{path} is a directory, {_NOT_A_KEY}") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"{path} is {_NOT_A_KEY}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    if not _SEED.fullmatch(text):
        raise KeyFileError(f"{path} is {_NOT_A_KEY}")
    return SigningKey(bytes.fromhex(text[:64]))

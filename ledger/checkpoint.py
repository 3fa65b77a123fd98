"""Checkpoints: what the log signs (SPEC section 4).

A checkpoint is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) carried in a C2SP
signed-note (https://c2sp.org/signed-note), signed with Ed25519. The note layer (`sign_note`,
`open_note`) is generic and follows golang.org/x/mod/sumdb/note, the reference implementation,
check by check; the checkpoint layer (`Checkpoint`, `sign_checkpoint`, `open_checkpoint`,
`parse_checkpoint_body`) reads and writes the body. Pure: text in, text or typed errors out.

    localhost/multitude
    42
    <root hash, base64>
    state <state root, base64>

    — localhost/multitude <base64(key id || Ed25519 signature)>

The `state` line is the checkpoint's one extension line (SPEC section 4): the root of the state
map (SPEC section 5) after the first `tree size` entries. Checkpoints signed before the state
map have none; a client that knows nothing of it ignores it, as tlog-checkpoint allows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from ledger.errors import CheckpointError, SignatureError

# signed-note: the signature type of Ed25519, the first byte of a verifier key's key material.
ED25519 = 0x01
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
KEY_ID_SIZE = 4
# signed-note: a signature line is U+2014 EM DASH, a space, the key name, a space, the base64.
SIGNATURE_PREFIX = "\u2014 "
# signed-note: verifiers may cap the number of signatures; sumdb/note refuses more than 100.
MAX_SIGNATURES = 100
# tlog-checkpoint: the root hash is a SHA-256 hash.
ROOT_HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
# SPEC section 4: the extension line that carries the state map's root.
STATE_PREFIX = "state "

_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


# --- keys ---------------------------------------------------------------------------------------


def _check_name(name: str, what: str = "key name") -> None:
    # signed-note: "Key names MUST be non-empty, well-formed UTF-8 containing neither Unicode
    # spaces nor plus (U+002B)." (sumdb/note isValidName)
    if not name:
        raise CheckpointError(f"the {what} is empty")
    if any(c.isspace() for c in name) or "+" in name:
        raise CheckpointError(
            f"the {what} {name!r} contains a space or a '+', which signed notes forbid"
        )
    _check_utf8(name, f"the {what}")


def _check_utf8(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError(f"{what} is not valid UTF-8") from None


def key_id(name: str, public_key: bytes) -> bytes:
    """signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    _check_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()[
        :KEY_ID_SIZE
    ]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key text `<name>+<key id, 8 hex>+<base64(0x01 || public key)>`."""
    if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
        raise CheckpointError(
            f"an Ed25519 public key is {ED25519_PUBLIC_KEY_SIZE} bytes, not {len(public_key)}"
        )
    material = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{material}"


@dataclass(frozen=True, slots=True)
class Verifier:
    """An Ed25519 note verifier: the key name, its 4-byte key ID and the 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: the alphabet, padding, and nothing else."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError(f"{what} is not standard base64: {text!r}") from None


def parse_verifier_key(text: str) -> Verifier:
    """Parse `<name>+<key id hex>+<base64(0x01 || public key)>`, as sumdb/note NewVerifier.

    One trailing newline is allowed (key files and `GET /v1/log/key` end in one). Raises
    `CheckpointError` unless the key is Ed25519 and the key ID matches the name and key.
    """
    text = text.removesuffix("\n")
    # The name holds no '+', so the first two '+' split the three fields.
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise CheckpointError(
            f"a verifier key is <name>+<key id>+<key>; {text!r} does not have three parts"
        )
    name, id_hex, material_b64 = parts
    _check_name(name)
    if not re.fullmatch(r"[0-9a-fA-F]{8}", id_hex):
        raise CheckpointError(f"the key ID {id_hex!r} of a verifier key must be 8 hex digits")
    material = _b64decode(material_b64, "the key material of the verifier key")
    if not material or material[0] != ED25519:
        raise CheckpointError(
            "the verifier key is not an Ed25519 key (its key material must start with 0x01)"
        )
    public_key = material[1:]
    if len(public_key) != ED25519_PUBLIC_KEY_SIZE:
        raise CheckpointError(
            f"the verifier key holds a {len(public_key)}-byte public key; "
            f"Ed25519 keys are {ED25519_PUBLIC_KEY_SIZE} bytes"
        )
    want = key_id(name, public_key)
    if bytes.fromhex(id_hex) != want:
        raise CheckpointError(
            f"the verifier key's key ID {id_hex} does not match its name and key "
            f"(expected {want.hex()}); the key text is corrupt"
        )
    return Verifier(name=name, key_id=want, public_key=public_key)


# --- signed notes -------------------------------------------------------------------------------


def _check_note_text(text: str, what: str) -> None:
    # signed-note: the note is UTF-8 and holds no ASCII control character but newline.
    for i, c in enumerate(text):
        if c < " " and c != "\n":
            raise CheckpointError(f"{what} has control character {c!r} at offset {i}")
    _check_utf8(text, what)


def _as_text(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            return note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"the note is not valid UTF-8 (byte {exc.start})") from None
    return note


def sign_note(text: str, signing_key: nacl.signing.SigningKey, name: str) -> str:
    """Sign `text` (which ends in a newline) with one Ed25519 key named `name`.

    Returns `text`, a blank line, and `— <name> <base64(key id || signature)>`, as sumdb/note
    Sign: the signature covers the text exactly, up to and including its final newline.
    """
    _check_name(name)
    _check_note_text(text, "the note text")
    if not text.endswith("\n"):
        raise CheckpointError("the note text must end with a newline")
    if "\n\n" in text:
        # A verifier splits at the last blank line; one in the text would end it early.
        raise CheckpointError("the note text must not contain a blank line")
    public_key = bytes(signing_key.verify_key)
    body = text.encode("utf-8")
    signature = signing_key.sign(body).signature
    blob = base64.b64encode(key_id(name, public_key) + signature).decode("ascii")
    return f"{text}\n{SIGNATURE_PREFIX}{name} {blob}\n"


def open_note(note: str | bytes, verifier: Verifier) -> bytes:
    """Verify a signed note with `verifier` and return its text (the signed bytes).

    Follows sumdb/note Open: the note is UTF-8 without control characters other than newline;
    the text ends at the last blank line; every following line is a well-formed signature line.
    Signatures by other keys are ignored. The first signature whose name and key ID match the
    verifier decides: it must verify. Raises `CheckpointError` if the note is malformed and
    `SignatureError` if the signature is bad or missing.
    """
    msg = _as_text(note)
    _check_note_text(msg, "the note")
    # "Must end with signature block preceded by blank line."
    split = msg.rfind("\n\n")
    if split < 0:
        raise CheckpointError(
            "the note has no blank line before its signatures; is it signed at all?"
        )
    text, sigs = msg[: split + 1], msg[split + 2 :]
    if not sigs or not sigs.endswith("\n"):
        raise CheckpointError("the note's signature block is empty or does not end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"the note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    # Parse every line before verifying, so a malformed block is refused whatever it holds.
    ours: tuple[str, bytes] | None = None
    others: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError(
                f"signature line {number} does not start with an em dash and a space: {line!r}"
            )
        name, _, blob_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
        _check_name(name, f"key name on signature line {number}")
        if not blob_b64:
            raise CheckpointError(f"signature line {number} has no signature")
        blob = _b64decode(blob_b64, f"the signature on line {number}")
        if len(blob) < KEY_ID_SIZE + 1:
            raise CheckpointError(f"the signature on line {number} is too short")
        if name == verifier.name and blob[:KEY_ID_SIZE] == verifier.key_id:
            # As sumdb/note: the first signature by this name and key ID decides; repeats of
            # it are skipped.
            if ours is None:
                ours = (name, blob[KEY_ID_SIZE:])
        else:
            others.append(f"{name} ({blob[:KEY_ID_SIZE].hex()})")
    if ours is not None:
        name, signature = ours
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise SignatureError(
                f"the signature by {name} is {len(signature)} bytes; "
                f"Ed25519 signatures are {ED25519_SIGNATURE_SIZE}"
            )
        try:
            nacl.signing.VerifyKey(verifier.public_key).verify(text.encode("utf-8"), signature)
        except nacl.exceptions.BadSignatureError:
            raise SignatureError(
                f"the signature by {name} does not verify: the note was altered or signed "
                "with another key under the same name"
            ) from None
        return text.encode("utf-8")
    signed_by = f"; it is signed only by {', '.join(others)}" if others else ""
    raise SignatureError(
        f"no signature by {verifier.name} (key ID {verifier.key_id.hex()}){signed_by}"
    )


# --- checkpoints --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tlog-checkpoint: the log's origin, its tree size and the root hash at that size, and
    the state root its `state` extension line carries (None on checkpoints without one)."""

    origin: str
    size: int
    root_hash: bytes
    state_root: bytes | None = None

    def __post_init__(self) -> None:
        # tlog-checkpoint: "The origin line MUST be non-empty" and is one line of the body.
        if not self.origin:
            raise CheckpointError("a checkpoint's origin must not be empty")
        _check_note_text(self.origin, "the checkpoint origin")
        if "\n" in self.origin:
            raise CheckpointError("a checkpoint's origin must be a single line")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"tree size {self.size!r} is not in 0..2^64-1")
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointError(
                f"the root hash is {len(self.root_hash)} bytes; a SHA-256 hash is {ROOT_HASH_SIZE}"
            )
        if self.state_root is not None and len(self.state_root) != ROOT_HASH_SIZE:
            raise CheckpointError(
                f"the state root is {len(self.state_root)} bytes; a SHA-256 hash is "
                f"{ROOT_HASH_SIZE}"
            )

    def body(self) -> bytes:
        """The checkpoint body: origin, decimal size and base64 root hash, one per line, then
        the `state` line when there is a state root."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        state = (
            ""
            if self.state_root is None
            else f"{STATE_PREFIX}{base64.b64encode(self.state_root).decode('ascii')}\n"
        )
        return f"{self.origin}\n{self.size}\n{root}\n{state}".encode()


def parse_checkpoint_body(text: str | bytes) -> Checkpoint:
    """Parse a tlog-checkpoint body strictly. Extension lines are allowed; the first `state`
    line gives the state root, and the others are not kept."""
    body = _as_text(text)
    _check_note_text(body, "the checkpoint body")
    if not body.endswith("\n"):
        raise CheckpointError("the checkpoint body must end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(
            "a checkpoint body has at least three lines: origin, tree size and root hash"
        )
    origin, size_text, root_b64, *extensions = lines
    if not origin:
        raise CheckpointError("the checkpoint's origin line is empty")
    # tlog-checkpoint: the tree size is "ASCII decimal", and as in every C2SP format, with no
    # leading zeros, sign or spaces, so that one size has one spelling.
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(
            f"the tree size {size_text!r} is not a decimal number without leading zeros"
        )
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise CheckpointError(f"the tree size {size_text} does not fit in 64 bits")
    root_hash = _b64decode(root_b64, "the root hash")
    if base64.b64encode(root_hash).decode("ascii") != root_b64:
        raise CheckpointError(f"the root hash {root_b64!r} is not in canonical base64")
    if len(root_hash) != ROOT_HASH_SIZE:
        raise CheckpointError(
            f"the root hash is {len(root_hash)} bytes; a SHA-256 hash is {ROOT_HASH_SIZE}"
        )
    # tlog-checkpoint: "zero or more" extension lines follow, each non-empty.
    state_root = None
    for number, extension in enumerate(extensions, start=4):
        if not extension:
            raise CheckpointError(f"line {number} of the checkpoint body is empty")
        if extension.startswith(STATE_PREFIX) and state_root is None:
            encoded = extension[len(STATE_PREFIX) :]
            state_root = _b64decode(encoded, f"the state root on line {number}")
            if base64.b64encode(state_root).decode("ascii") != encoded:
                raise CheckpointError(f"the state root {encoded!r} is not in canonical base64")
            if len(state_root) != ROOT_HASH_SIZE:
                raise CheckpointError(
                    f"the state root is {len(state_root)} bytes; a SHA-256 hash is {ROOT_HASH_SIZE}"
                )
    return Checkpoint(origin=origin, size=size, root_hash=root_hash, state_root=state_root)


def sign_checkpoint(
    cp: Checkpoint, signing_key: nacl.signing.SigningKey, name: str | None = None
) -> str:
    """The signed note text of `cp`, signed by `signing_key` under `name` (default: the origin)."""
    return sign_note(cp.body().decode("utf-8"), signing_key, cp.origin if name is None else name)


def open_checkpoint(note: str | bytes, verifier: Verifier) -> Checkpoint:
    """Verify a signed checkpoint with `verifier` and parse its body.

    Raises `SignatureError` unless the note carries a good signature by the verifier, and
    `CheckpointError` if the note or the checkpoint in it is malformed.
    """
    return parse_checkpoint_body(open_note(note, verifier))

"""ledger.checkpoint: C2SP signed notes and tlog-checkpoints, against the sumdb/note example and,
when Go is installed, against golang.org/x/mod/sumdb/note and sumdb/tlog themselves."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import nacl.signing
import pytest

from ledger import checkpoint as c
from ledger import merkle
from ledger.errors import CheckpointError, SignatureError

# The documented example of golang.org/x/mod/sumdb/note.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_NOTE = (
    PETER_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "localhost/multitude"
KEY = nacl.signing.SigningKey(hashlib.sha256(b"multitude test log key").digest())
PUBLIC = bytes(KEY.verify_key)
VERIFIER = c.parse_verifier_key(c.verifier_key(ORIGIN, PUBLIC))
ROOT = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])
CP = c.Checkpoint(ORIGIN, 2, ROOT)


def other_key(seed: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(seed).digest())


# --- keys ---------------------------------------------------------------------------------------


def test_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_alg_key() -> None:
    independent = hashlib.sha256(ORIGIN.encode() + bytes([0x0A, 0x01]) + PUBLIC).digest()[:4]
    assert c.key_id(ORIGIN, PUBLIC) == independent


def test_verifier_key_has_name_hex_key_id_and_base64_key() -> None:
    text = c.verifier_key(ORIGIN, PUBLIC)
    name, id_hex, material = text.split("+", 2)
    assert name == ORIGIN
    assert id_hex == c.key_id(ORIGIN, PUBLIC).hex()
    assert base64.b64decode(material) == b"\x01" + PUBLIC
    assert c.parse_verifier_key(text) == c.Verifier(ORIGIN, c.key_id(ORIGIN, PUBLIC), PUBLIC)
    assert c.parse_verifier_key(text + "\n") == c.parse_verifier_key(text)


def test_documented_sumdb_verifier_key_parses() -> None:
    v = c.parse_verifier_key(PETER_VKEY)
    assert v.name == "PeterNeumann"
    assert v.key_id.hex() == "c74f20a3"
    assert c.verifier_key(v.name, v.public_key) == PETER_VKEY


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "Ed25519"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy", "29-byte public key"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQeg!xbzhKqiBfsVkmqq/LDE4izWy10TW", "base64"),
        ("PeterNeumann+c74f20a3", "three parts"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "space"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "empty"),
    ],
)
def test_malformed_verifier_key_is_refused(text: str, why: str) -> None:
    with pytest.raises(CheckpointError, match=why):
        c.parse_verifier_key(text)


# --- the generic note verifier ------------------------------------------------------------------


def test_documented_sumdb_note_verifies() -> None:
    assert c.open_note(PETER_NOTE, c.parse_verifier_key(PETER_VKEY)) == PETER_TEXT.encode()
    assert c.open_note(PETER_NOTE.encode(), c.parse_verifier_key(PETER_VKEY)) == (
        PETER_TEXT.encode()
    )


def test_tampered_sumdb_note_body_is_refused() -> None:
    tampered = PETER_NOTE.replace("cryptography", "Cryptography")
    with pytest.raises(SignatureError, match="does not verify"):
        c.open_note(tampered, c.parse_verifier_key(PETER_VKEY))


def test_tampered_sumdb_note_signature_is_refused() -> None:
    tampered = PETER_NOTE.replace("x08go/ZJku", "x08go/ZJkv")
    with pytest.raises(SignatureError, match="does not verify"):
        c.open_note(tampered, c.parse_verifier_key(PETER_VKEY))


def test_note_signed_by_another_key_under_the_same_name_is_refused() -> None:
    # Same name, different key: a different key ID, so no signature by this verifier.
    impostor = c.parse_verifier_key(c.verifier_key("PeterNeumann", PUBLIC))
    with pytest.raises(SignatureError, match="no signature by PeterNeumann"):
        c.open_note(PETER_NOTE, impostor)


def test_note_under_another_name_is_refused() -> None:
    renamed = PETER_NOTE.replace("— PeterNeumann", "— PaulNeumann")
    with pytest.raises(SignatureError, match="signed only by PaulNeumann"):
        c.open_note(renamed, c.parse_verifier_key(PETER_VKEY))


def test_verifier_with_wrong_key_but_matching_id_is_refused() -> None:
    real = c.parse_verifier_key(PETER_VKEY)
    forged = c.Verifier(real.name, real.key_id, PUBLIC)
    with pytest.raises(SignatureError, match="does not verify"):
        c.open_note(PETER_NOTE, forged)


def test_signatures_by_other_keys_are_ignored() -> None:
    note = c.sign_checkpoint(CP, KEY)
    witness = c.sign_note(CP.body().decode(), other_key(b"witness"), "witness.example")
    cosigned = witness + note.split("\n\n", 1)[1]
    assert cosigned.count("\n— ") == 2
    assert c.open_checkpoint(cosigned, VERIFIER) == CP


def test_bad_signature_by_the_verifier_is_refused_even_if_a_good_one_follows() -> None:
    # As sumdb/note: the first signature by the verifier's name and key ID decides.
    note = c.sign_checkpoint(CP, KEY)
    line = note.split("\n\n", 1)[1]
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[-1] ^= 1
    bad_line = f"— {ORIGIN} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        c.open_checkpoint(CP.body().decode() + "\n" + bad_line + line, VERIFIER)


@pytest.mark.parametrize(
    ("mutate", "error", "why"),
    [
        (lambda n: n.replace("\n\n", "\n"), CheckpointError, "no blank line"),
        (lambda n: n + "junk\n", CheckpointError, "em dash"),
        (lambda n: n + "junk", CheckpointError, "does not end with a newline"),
        (lambda n: n.replace("— ", "- "), CheckpointError, "em dash"),
        (lambda n: n.replace("— ", "—"), CheckpointError, "em dash"),
        (lambda n: n.replace("\n", "\r\n"), CheckpointError, "control character"),
        (lambda n: n.replace(f"— {ORIGIN} ", f"— {ORIGIN}  "), CheckpointError, "base64"),
        (lambda n: n.rstrip("\n").rsplit(" ", 1)[0] + " \n", CheckpointError, "no signature"),
        (lambda n: n.rstrip("\n").rsplit(" ", 1)[0] + " AAAA\n", CheckpointError, "too short"),
        (lambda n: n[:-3] + "\n", CheckpointError, "base64"),
        (lambda n: n.replace("\n\n", "\n\n\n"), SignatureError, "does not verify"),
        (lambda n: n.replace("\n2\n", "\n3\n"), SignatureError, "does not verify"),
    ],
    ids=[
        "no-blank-line",
        "trailing-junk-line",
        "no-final-newline",
        "hyphen-not-em-dash",
        "no-space-after-dash",
        "crlf",
        "two-spaces",
        "empty-signature",
        "short-signature",
        "truncated-base64",
        "two-blank-lines",
        "altered-size",
    ],
)
def test_malformed_or_altered_note_is_refused(
    mutate: Callable[[str], str], error: type[Exception], why: str
) -> None:
    note = mutate(c.sign_checkpoint(CP, KEY))
    with pytest.raises(error, match=why):
        c.open_checkpoint(note, VERIFIER)


def test_note_that_is_not_utf8_is_refused() -> None:
    note = c.sign_checkpoint(CP, KEY).encode().replace(b"\n2\n", b"\n\xff\n")
    with pytest.raises(CheckpointError, match="not valid UTF-8"):
        c.open_checkpoint(note, VERIFIER)


def test_note_with_more_than_100_signatures_is_refused() -> None:
    note = c.sign_checkpoint(CP, KEY)
    extra = "".join(
        f"— w{i} {base64.b64encode(bytes(68)).decode()}\n" for i in range(c.MAX_SIGNATURES)
    )
    with pytest.raises(CheckpointError, match="at most 100"):
        c.open_checkpoint(note + extra, VERIFIER)


# --- checkpoints --------------------------------------------------------------------------------


def test_signed_checkpoint_has_the_c2sp_layout_and_round_trips() -> None:
    note = c.sign_checkpoint(CP, KEY)
    root_b64 = base64.b64encode(ROOT).decode()
    body = f"{ORIGIN}\n2\n{root_b64}\n"
    assert CP.body() == body.encode()
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n")
    blob = base64.b64decode(note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == c.key_id(ORIGIN, PUBLIC)
    # Ed25519 over the body exactly: up to its final newline, not the blank line.
    KEY.verify_key.verify(body.encode(), blob[4:])
    assert c.open_checkpoint(note, VERIFIER) == CP
    assert c.open_checkpoint(note.encode(), VERIFIER) == CP


def test_checkpoint_of_the_empty_tree_round_trips() -> None:
    empty = c.Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT)
    assert c.open_checkpoint(c.sign_checkpoint(empty, KEY), VERIFIER) == empty


def test_checkpoint_signed_by_another_log_key_is_refused() -> None:
    note = c.sign_checkpoint(CP, other_key(b"another log"))
    with pytest.raises(SignatureError, match=f"no signature by {ORIGIN}"):
        c.open_checkpoint(note, VERIFIER)


def test_extension_lines_are_accepted_and_not_kept() -> None:
    body = CP.body().decode() + "extension one\nextension two\n"
    note = c.sign_note(body, KEY, ORIGIN)
    assert c.open_note(note, VERIFIER) == body.encode()
    assert c.open_checkpoint(note, VERIFIER) == CP


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (f"{ORIGIN}\n02\nROOT\n", "leading zeros"),
        (f"{ORIGIN}\n+2\nROOT\n", "leading zeros"),
        (f"{ORIGIN}\n 2\nROOT\n", "leading zeros"),
        (f"{ORIGIN}\n\u0662\nROOT\n", "leading zeros"),
        (f"{ORIGIN}\n18446744073709551616\nROOT\n", "64 bits"),
        (f"{ORIGIN}\n2\nROOT", "end with a newline"),
        (f"{ORIGIN}\n2\n", "at least three lines"),
        ("\n2\nROOT\n", "origin line is empty"),
        (f"{ORIGIN}\n2\nROOT\n\nextension\n", "line 4"),
        (f"{ORIGIN}\n2\nAAAA\n", "3 bytes"),
        (f"{ORIGIN}\n2\nROOT=\n", "base64"),
        (f"{ORIGIN}\n2\nNONCANONICAL\n", "canonical"),
        (f"{ORIGIN}\t\n2\nROOT\n", "control character"),
    ],
)
def test_malformed_checkpoint_body_is_refused(body: str, why: str) -> None:
    root_b64 = base64.b64encode(ROOT).decode()
    # Same bytes, but the last base64 character carries set padding bits.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    noncanonical = root_b64[:-2] + alphabet[alphabet.index(root_b64[-2]) ^ 1] + "="
    assert base64.b64decode(noncanonical) == ROOT
    body = body.replace("NONCANONICAL", noncanonical).replace("ROOT", root_b64)
    with pytest.raises(CheckpointError, match=why):
        c.parse_checkpoint_body(body)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "why"),
    [
        ("", 1, ROOT, "origin must not be empty"),
        ("a\nb", 1, ROOT, "control character|single line"),
        (ORIGIN, -1, ROOT, "not in 0..2\\^64-1"),
        (ORIGIN, 2**64, ROOT, "not in 0..2\\^64-1"),
        (ORIGIN, 1, ROOT[:31], "31 bytes"),
    ],
)
def test_impossible_checkpoint_is_refused(
    origin: str, size: int, root_hash: bytes, why: str
) -> None:
    with pytest.raises(CheckpointError, match=why):
        c.Checkpoint(origin, size, root_hash)


def test_origin_that_is_not_a_key_name_needs_an_explicit_name() -> None:
    cp = c.Checkpoint("go.sum database tree", 2, ROOT)
    with pytest.raises(CheckpointError, match="space"):
        c.sign_checkpoint(cp, KEY)
    note = c.sign_checkpoint(cp, KEY, name="sum.example")
    verifier = c.parse_verifier_key(c.verifier_key("sum.example", PUBLIC))
    assert c.open_checkpoint(note, verifier) == cp


def test_note_text_with_a_blank_line_cannot_be_signed() -> None:
    with pytest.raises(CheckpointError, match="blank line"):
        c.sign_note("a\n\nb\n", KEY, ORIGIN)
    with pytest.raises(CheckpointError, match="end with a newline"):
        c.sign_note("a", KEY, ORIGIN)


# --- the Go reference implementation ------------------------------------------------------------

GO_CHECK_DIR = Path(__file__).parent / "go_note_check"
GOPATH = "/usr/share/gocode"


@pytest.fixture(scope="module")
def go_note_check(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build tests/ledger/go_note_check against the Debian golang-golang-x-mod-dev sources."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not on PATH (apt-get install golang-go golang-golang-x-mod-dev)")
    if not Path(GOPATH, "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip(
            f"golang.org/x/mod is not in {GOPATH} (apt-get install golang-golang-x-mod-dev)"
        )
    out = tmp_path_factory.mktemp("go") / "note_check"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": GOPATH,
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOCACHE": str(out.parent / "cache"),
    }
    subprocess.run(
        [go, "build", "-o", str(out), "."], cwd=GO_CHECK_DIR, env=env, check=True, timeout=300
    )
    return out


def run_go(binary: Path, request: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary)], input=json.dumps(request), capture_output=True, text=True, timeout=60
    )


def b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@pytest.mark.parametrize(
    ("origin", "name"), [(ORIGIN, None), ("go.sum database tree", "sum.example")]
)
def test_go_sumdb_note_and_tlog_accept_our_checkpoint_and_proofs(
    go_note_check: Path, origin: str, name: str | None
) -> None:
    hashes = [merkle.leaf_hash(f"leaf {i}".encode()) for i in range(37)]
    store: dict[merkle.NodeId, bytes] = {}
    frontier, completed = merkle.append([], 0, hashes)
    store.update({(level, index): h for level, index, h in completed})
    size, index, old = 37, 13, 20
    cp = c.Checkpoint(origin, size, merkle.root_from_frontier(frontier))
    note = c.sign_checkpoint(cp, KEY, name)
    request: dict[str, object] = {
        "vkey": c.verifier_key(name or origin, PUBLIC),
        "note": note,
        "leaf_index": index,
        "leaf_hash": b64(hashes[index]),
        "inclusion": [b64(h) for h in merkle.inclusion_proof(index, size, store)],
        "old_size": old,
        "old_root": b64(merkle.root_at(old, store)),
        "consistency": [b64(h) for h in merkle.consistency_proof(old, size, store)],
    }
    result = run_go(go_note_check, request)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"origin": origin, "size": size, "root": b64(cp.root_hash)}

    # The checker is not vacuous: it refuses an altered note and a wrong proof.
    altered = run_go(go_note_check, {**request, "note": note.replace("\n37\n", "\n38\n")})
    assert altered.returncode == 1
    assert "note.Open" in altered.stderr
    wrong = run_go(go_note_check, {**request, "leaf_index": index + 1})
    assert wrong.returncode == 1
    assert "tlog.CheckRecord" in wrong.stderr


def test_go_sumdb_note_accepts_the_documented_example(go_note_check: Path) -> None:
    # Sanity of the harness: Go and we agree on the same documented note (not a checkpoint, so
    # note.Open passes and the checkpoint body check that follows fails).
    result = run_go(go_note_check, {"vkey": PETER_VKEY, "note": PETER_NOTE})
    assert result.returncode == 1
    assert "note.Open" not in result.stderr
    assert "fewer than three lines" in result.stderr


def test_the_state_line_round_trips_and_a_checkpoint_without_one_still_parses() -> None:
    import base64 as b64

    from ledger.checkpoint import Checkpoint, parse_checkpoint_body

    with_state = Checkpoint("example.org/log", 7, bytes(range(32)), bytes(32))
    body = with_state.body().decode()
    assert body.endswith(f"state {b64.b64encode(bytes(32)).decode()}\n")
    assert parse_checkpoint_body(body) == with_state
    without = Checkpoint("example.org/log", 7, bytes(range(32)))
    assert parse_checkpoint_body(without.body()) == without
    assert parse_checkpoint_body(body + "other extension\n") == with_state


@pytest.mark.parametrize(
    ("line", "message"),
    [("state AAAA", "32"), ("state !!", "base64"), ("state " + "A" * 43 + "B=", "canonical")],
)
def test_a_bad_state_line_is_refused(line: str, message: str) -> None:
    from ledger.checkpoint import Checkpoint, parse_checkpoint_body
    from ledger.errors import CheckpointError

    body = Checkpoint("example.org/log", 1, bytes(32)).body().decode() + line + "\n"
    with pytest.raises(CheckpointError, match=message):
        parse_checkpoint_body(body)

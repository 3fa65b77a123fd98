"""The ledger's typed errors: one small hierarchy under `LedgerError`.

Every failed check in `ledger` raises one of these with a sentence a human can act on; nothing
here knows about HTTP. The API maps each class to one problem type and status, the command line
prints the message and exits non-zero. Add new classes here (e.g. `EntryError`, `ConflictError`)
as direct subclasses of `LedgerError` unless one is truly a kind of another.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the ledger raises on purpose."""


class ProofError(LedgerError):
    """An inclusion or consistency proof does not verify (RFC 9162 §2.1.3.2, §2.1.4.2)."""


class ProofRequestError(LedgerError, ValueError):
    """A proof was asked for with impossible arguments (index >= size, first > second, ...).

    This is the caller's mistake, not a failed verification: the API answers it with a 4xx.
    """


class MissingNodeError(LedgerError):
    """A stored tree node that a proof or root needs was not supplied.

    This means the node store is incomplete or the caller fetched the wrong rows: a fault of
    the server, never of the client that asked for the proof.
    """

    def __init__(self, level: int, index: int, message: str) -> None:
        super().__init__(message)
        self.level = level
        self.index = index


class CheckpointError(LedgerError):
    """A signed note, checkpoint body or verifier key is malformed (C2SP signed-note,
    tlog-checkpoint)."""


class SignatureError(LedgerError):
    """A signature does not verify, or the note carries no signature by the expected key."""


class EntryError(LedgerError):
    """A signed entry or leaf is malformed or breaks a rule of SPEC section 2."""


class MalformedJSONError(EntryError):
    """The bytes are not one strict JSON document (RFC 8785 / I-JSON rules)."""


class RefusedError(LedgerError):
    """A well-formed, well-signed entry that the log refuses: wrong network, stale clock,
    a rule of valuation broken, ..."""


class ConflictError(RefusedError):
    """An entry that conflicts with the log: a repeated or skipped `seq`, a duplicate entry."""


class LogRuleError(RefusedError):
    """An entry that breaks a rule of the log (`ledger.rules`): the network, who signs network
    entries, the genesis, `logged_at` order. `rule` names it as `multitude verify` reports it."""

    def __init__(self, message: str, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class SeqError(LogRuleError, ConflictError):
    """An entry whose `seq` is not its author's last + 1: a repeated or skipped `seq`."""


class NotFoundError(LedgerError):
    """What was asked for (an entry, a member, a tree size) is not in the log."""


class NotAMemberError(NotFoundError):
    """A key that has not joined the network; `next_seq` is the seq it signs next (its first
    entry, a member.join, unless it signed network entries before)."""

    def __init__(self, key: str, next_seq: int) -> None:
        super().__init__(f"{key[:16]}… has not joined this network; its next seq is {next_seq}")
        self.key = key
        self.next_seq = next_seq

    def __reduce__(self) -> tuple[type[NotAMemberError], tuple[str, int]]:
        return (NotAMemberError, (self.key, self.next_seq))


class UnavailableError(LedgerError):
    """The database cannot be reached or written; the request may be retried later."""


class IntegrityError(LedgerError):
    """Stored data contradicts itself: a check of the database or of an audit bundle failed."""

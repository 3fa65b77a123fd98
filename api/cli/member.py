"""The member's commands of `multitude` (SPEC section 8): sign on this machine, submit, read.

`join`, `contribute` and `evaluate` sign with the member's key file and submit through
`api.client`; `members`, `leaderboard`, `contributions`, `show`, `checkpoint`, `prove` and
`figures` read (the last two check what they read against the log's signed checkpoint).
Tables are for people, `--json` is for scripts. Every failure becomes one sentence
(`api.cli.common.CommandError`) and a non-zero exit.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from api.cli.common import PREFIX, CommandError, complete_id, deferred_console
from ledger.errors import LedgerError

if TYPE_CHECKING:
    from rich.table import Table

    from api.client import Client, Contribution, Member, Receipt

_NOT_JOINED = re.compile(r"author \S+ is not a member")

# api.client's, written here so that `--help` need not import the HTTP client to show it.
DEFAULT_API = "http://127.0.0.1:8000"

console = deferred_console(highlight=False, soft_wrap=True)


KeyOption = Annotated[
    Path,
    typer.Option(
        "--key", metavar="FILE", help="your secret key file (make one with `multitude keygen`)"
    ),
]
ApiOption = Annotated[
    str,
    typer.Option(
        "--api", metavar="URL", envvar="MULTITUDE_API", help="the Multitude API to talk to"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON, for scripts")]


# --- plumbing -------------------------------------------------------------------------------


@contextmanager
def _reporting() -> Iterator[None]:
    """Turn the client's and the key file's errors into one sentence for the terminal."""
    from api.client import ClientError, EntryRefused

    try:
        yield
    except EntryRefused as exc:
        hint = ": run `multitude join` first" if _NOT_JOINED.search(exc.detail) else ""
        raise CommandError(f"the server refused the entry: {exc.detail}{hint}") from None
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    except LedgerError as exc:
        raise CommandError(str(exc)) from None


def _client(api: str, key_file: Path | None = None) -> Client:
    from api.client import Client

    return Client(api, key_file)


def _print_json(value: Any) -> None:
    from api.client import as_json

    print(json.dumps(as_json(value), indent=2, ensure_ascii=False))


def _amount(text: str | None, places: int = 3) -> str:
    """An amount for people: a few decimals (the exact string is in `--json`)."""
    if text is None:
        return "-"
    try:
        return f"{Decimal(text):,.{places}f}"
    except InvalidOperation:
        return text


def _percent(text: str | None, places: int = 1) -> str:
    """A fraction as the dashboard shows it: 0.0246 is 2.46 %."""
    if text is None:
        return "-"
    try:
        return f"{Decimal(text) * 100:.{places}f} %"
    except InvalidOperation:
        return text


def _short(key: str | None) -> str:
    return "-" if not key else key[:12] + "…"


def _receipt(what: str, receipt: Receipt, as_json_out: bool) -> None:
    if as_json_out:
        _print_json(receipt)
        return
    console.print(f"{what}: entry [bold]{receipt.id}[/] at index {receipt.index}")


def _resolve(client: Client, ident: str, *, members: bool = True) -> str:
    """A full id from a unique prefix of a contribution's (or a member's) id."""
    if not PREFIX.fullmatch(ident.strip().lower()):
        return complete_id(ident, (), "")  # a full id, or the sentence saying it is not one
    # Every contribution, not only the newest page: an old one's prefix must be found too.
    ids = [c.id for c in client.all_contributions()]
    if members:
        ids += [m.member for m in client.members()]
    try:
        return complete_id(ident, ids, "contribution or member" if members else "contribution")
    except CommandError as exc:
        if members or "starting with" not in str(exc):
            raise
        raise CommandError(
            f"{exc}: a prefix finds a contribution only; give another entry's full 64-hex id"
        ) from None


def keygen(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="where to write the secret key (mode 0600)"),
    ],
) -> None:
    """Make a member's key pair.

    Writes the secret key file (mode 0600) and prints the public key."""
    from ledger import keys

    key = keys.generate()
    keys.write_key(out, key)
    console.print(keys.public_hex(key))


# --- writes ---------------------------------------------------------------------------------


def join(
    key: KeyOption,
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="the name others see (1 to 80 characters)")
    ],
    referrer: Annotated[
        str | None,
        typer.Option(
            "--referrer", metavar="KEY", help="the public key of the member who invited you"
        ),
    ] = None,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Join the network, signed with your key.

    Signs a member.join with your key and submits it."""
    with _reporting(), _client(api, key) as client:
        receipt = client.join(name, referrer=referrer)
        if json_out:
            _print_json(receipt)
            return
        console.print(
            f"joined network [bold]{client.network()}[/] as [bold]{name}[/] "
            f"(member {client.public_key})"
        )
        console.print(f"entry {receipt.id} at index {receipt.index}")


def contribute(
    key: KeyOption,
    title: Annotated[
        str, typer.Argument(metavar="TITLE", help="what you contributed, 1 to 200 characters")
    ],
    type: Annotated[
        str | None,
        typer.Option(
            "--type", metavar="TYPE", help="a contribution type of the network, e.g. article"
        ),
    ] = None,
    uri: Annotated[
        str | None, typer.Option("--uri", metavar="URI", help="where the work can be seen")
    ] = None,
    content: Annotated[
        Path | None,
        typer.Option(
            "--content", metavar="FILE", help="a local file: only its SHA-256 is signed and sent"
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="TAG", help="a tag (repeatable)")
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref", metavar="ID", help="id of an earlier contribution this builds on (repeatable)"
        ),
    ] = None,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Submit a contribution, signed with your key. Prints its id, which others evaluate."""
    with _reporting(), _client(api, key) as client:
        refs = [_resolve(client, r, members=False) for r in ref or []]
        receipt = client.contribute(
            title, type=type, uri=uri, content=content, tags=tag or [], refs=refs
        )
        _receipt("contribution submitted", receipt, json_out)
        if not json_out:
            console.print(f"others evaluate it with: multitude evaluate --key FILE {receipt.id} 1")


def evaluate(
    key: KeyOption,
    contribution_id: Annotated[
        str, typer.Argument(metavar="ID", help="the contribution's id (or a unique prefix of it)")
    ],
    value: Annotated[
        int,
        typer.Argument(
            metavar="VALUE",
            help="your evaluation, one of the values the contribution's type allows, "
            "e.g. 1 (good) or 0 (not good); negative values too, such as -1",
        ),
    ],
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Evaluate a contribution, signed with your key. Evaluating again replaces your vote."""
    from api.client import NotFound

    with _reporting(), _client(api, key) as client:
        cid = _resolve(client, contribution_id, members=False)
        try:
            contribution = client.contribution(cid)
        except NotFound:
            raise CommandError(f"no contribution has id {cid}") from None
        title = contribution.title
        allowed = _evaluation_values(client, contribution.type)
        if allowed is not None and value not in allowed:
            raise CommandError(
                f"{value} is not a value for a contribution of type {contribution.type!r}: "
                f"give one of {', '.join(str(v) for v in sorted(allowed))}"
            )
        receipt = client.evaluate(cid, value)
        _receipt(f"evaluated {title!r} with {value}", receipt, json_out)


def _evaluation_values(client: Client, contribution_type: str) -> tuple[int, ...] | None:
    """The values the params in force allow for `contribution_type`, so that a value out of
    range is caught here; None when this cannot be told (the log changed its params since its
    genesis, or they are not understood here), and the server alone checks."""
    import valuation

    if client.params_changed():
        return None
    try:
        params = valuation.resolve_params(client.genesis()["body"]["valuation"])
    except (valuation.ValuationError, KeyError, TypeError):
        return None
    ctype = params.contribution_types.get(contribution_type)
    values = getattr(ctype, "evaluation_values", None)
    return tuple(values) if values is not None else None


# --- reads ----------------------------------------------------------------------------------


def _member_table(
    title: str,
    rows: Sequence[Member],
    by: str = "reputation",
    you: str | None = None,
    top: int | None = None,
) -> Table:
    """Members as a table; `you` is marked; rows after the first `top` are not of the top."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("rank" if by == "reputation" else "#", justify="right")
    table.add_column("name")
    table.add_column("reputation", justify="right", style="bold" if by == "reputation" else "")
    table.add_column("tokens", justify="right", style="bold" if by == "tokens" else "")
    table.add_column("influence", justify="right")
    table.add_column("member")
    for i, m in enumerate(rows, start=1):
        table.add_row(
            str(m.rank) if by == "reputation" else str(i) if top is None or i <= top else "…",
            f"{m.name} (you)" if m.member == you else m.name,
            _amount(m.reputation),
            _amount(m.tokens),
            _percent(m.influence),
            _short(m.member),
        )
    return table


def members(api: ApiOption = DEFAULT_API, json_out: JsonOption = False) -> None:
    """Every member of the network, by reputation."""
    with _reporting(), _client(api) as client:
        rows = client.members()
    if json_out:
        _print_json(rows)
        return
    console.print(_member_table(f"{len(rows)} members", rows))


def leaderboard(
    by: Annotated[
        Literal["reputation", "tokens"],
        typer.Option("--by", metavar="[reputation|tokens]", help="reputation or tokens"),
    ] = "reputation",
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=1000)] = 20,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            metavar="FILE",
            help="your key file: marks you, and adds your own row when you are not in the top",
        ),
    ] = None,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """The top members by reputation (or tokens)."""
    from api.client import NotFound

    with _reporting(), _client(api, key) as client:
        rows = client.leaderboard(by=by, limit=limit)
        you = client.public_key if key is not None else None
        if you is not None and all(m.member != you for m in rows):
            try:
                rows.append(client.member(you))
            except NotFound:
                raise CommandError("you are not a member yet: run `multitude join` first") from None
    if json_out:
        _print_json(rows)
        return
    top = min(limit, len(rows) - 1) if you is not None and len(rows) > limit else None
    table = _member_table(f"leaderboard by {by}", rows, by, you, top)
    if top is not None:  # your own row, below the top
        table.rows[top - 1].end_section = True
    console.print(table)


def contributions(
    order_by: Annotated[
        Literal["score", "time"],
        typer.Option("--order-by", metavar="[score|time]", help="score (feed) or time"),
    ] = "score",
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=1000)] = 20,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Contributions, best first (or newest first)."""
    with _reporting(), _client(api) as client:
        rows = client.contributions(order_by, limit=limit)
        names = {m.member: m.name for m in client.members()} if rows and not json_out else {}
    if json_out:
        _print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"contributions by {order_by}", title_justify="left")
    for column, justify in [
        ("id", "left"),
        ("title", "left"),
        ("author", "left"),
        ("type", "left"),
        ("score", "right"),
        ("quality", "right"),
        ("votes", "right"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for c in rows:
        table.add_row(
            c.id[:12],
            c.title,
            names.get(c.author, _short(c.author)),
            c.type,
            _percent(c.score, 2),
            _percent(c.quality, 2),
            str(len(c.evaluations)),
        )
    console.print(table)


def _show_contribution(c: Contribution, names: dict[str, str]) -> None:
    console.print(f"[bold]{c.title}[/]  ({c.type}, by {names.get(c.author, c.author)})")
    console.print(f"id {c.id}, index {c.index}, logged at {c.logged_at}")
    console.print(
        f"score {_percent(c.score, 2)} · quality {_percent(c.quality, 2)} · "
        f"max score {_percent(c.max_score, 2)} · engaged reputation "
        f"{_amount(c.engaged_reputation)} ({_percent(c.engaged_fraction)}) · "
        f"evaluator fund {_amount(c.fund)} tokens"
    )
    if not c.evaluations:
        console.print("no evaluations yet")
        return
    from rich.table import Table

    table = Table(title="evaluations, in log order", title_justify="left")
    table.add_column("index", justify="right")
    table.add_column("evaluator")
    table.add_column("value", justify="right")
    table.add_column("reputation", justify="right")
    for e in c.evaluations:
        table.add_row(
            str(e.index),
            names.get(e.evaluator, _short(e.evaluator)),
            str(e.value),
            _amount(e.reputation),
        )
    console.print(table)


def _show_member(m: Member) -> None:
    console.print(f"[bold]{m.name}[/]  (member {m.member})")
    console.print(
        f"rank {m.rank} · reputation {_amount(m.reputation)} · tokens {_amount(m.tokens)} · "
        f"influence {_percent(m.influence)} · next seq {m.next_seq}"
    )
    if m.referrer:
        console.print(f"referred by {m.referrer}")


def show(
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="a contribution id or a member's public key")
    ],
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Show one contribution, or one member.

    A contribution is shown with its evaluations; a public key shows that member."""
    from api.client import Member, NotFound

    with _reporting(), _client(api) as client:
        full = _resolve(client, ident)
        try:
            found: Contribution | Member = client.contribution(full)
        except NotFound:
            try:
                found = client.member(full)
            except NotFound:
                raise CommandError(f"no contribution or member has id {full}") from None
        if json_out:
            _print_json(found)
            return
        if isinstance(found, Member):
            _show_member(found)
            return
        names = {m.member: m.name for m in client.members()}
    _show_contribution(found, names)


def checkpoint(
    verifier: Annotated[
        str | None,
        typer.Option(
            "--verifier",
            metavar="KEY",
            help="the log's verifier key, to check the checkpoint's signature",
        ),
    ] = None,
    verifier_key: Annotated[
        bool,
        typer.Option(
            "--verifier-key",
            help="print only the verifier key the server publishes, for --verifier (compare it "
            "with the one `multitude serve` printed: a server could publish another)",
        ),
    ] = False,
    note_only: Annotated[
        bool,
        typer.Option(
            "--note",
            help="print only the signed checkpoint, exactly as the server serves it: keep it "
            "(`> FILE`) to prove figures at its size later with `figures --checkpoint FILE`",
        ),
    ] = False,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """The log's latest signed checkpoint, or its verifier key.

    Shows the origin, tree size and root hash; with --verifier, checks the signature."""
    from ledger import checkpoint as cp

    if verifier_key and note_only:
        raise CommandError("give --verifier-key or --note, not both")
    if verifier_key:
        with _reporting(), _client(api) as client:
            key = client.log_key()
        if json_out:
            _print_json({"verifier_key": key})
        else:
            print(key)
        return
    with _reporting(), _client(api) as client:
        note = client.checkpoint()
        if note_only and verifier is None:
            sys.stdout.write(note)
            return
        if verifier is not None:
            signed = cp.open_checkpoint(note, cp.parse_verifier_key(verifier))
        else:
            signed = cp.parse_checkpoint_body(note.split("\n\n", 1)[0] + "\n")
    if note_only:  # and its signature verified with --verifier
        sys.stdout.write(note)
        return
    if json_out:
        _print_json(
            {
                "origin": signed.origin,
                "tree_size": signed.size,
                "root_hash": signed.root_hash.hex(),
                "verified": verifier is not None,
                "note": note,
            }
        )
        return
    console.print(note.rstrip("\n"))
    console.print()
    console.print(f"origin {signed.origin} · tree size {signed.size}")
    console.print(f"root hash {signed.root_hash.hex()}")
    if verifier is None:
        console.print("signature not checked: pass --verifier with the log's key to check it")
    else:
        console.print("[green]signature verified[/] with the log key you gave")


VerifierOption = Annotated[
    str | None,
    typer.Option(
        "--verifier",
        metavar="KEY",
        help="the log's verifier key, as `multitude serve` and `init` print it "
        "(`multitude checkpoint --verifier-key` shows the one the server publishes)",
    ),
]
TrustServerKeyOption = Annotated[
    bool,
    typer.Option("--trust-server-key", help="check against the key the server itself publishes"),
]


def _need_verifier(verifier: str | None, trust_server_key: bool) -> None:
    if verifier is None and not trust_server_key:
        raise CommandError(
            "give the log's verifier key with --verifier (`multitude serve` prints it; "
            "`multitude checkpoint --verifier-key` shows the server's), "
            "or --trust-server-key to trust the server's own"
        )


def prove(
    entry_id: Annotated[
        str, typer.Argument(metavar="ID", help="the id of an entry (e.g. a contribution)")
    ],
    verifier: VerifierOption = None,
    trust_server_key: TrustServerKeyOption = False,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Prove an entry is in the log.

    Checks its Merkle proof against a checkpoint signed by the log's key."""
    _need_verifier(verifier, trust_server_key)
    with _reporting(), _client(api) as client:
        full = _resolve(client, entry_id, members=False)
        signed = client.verify_inclusion(full, verifier, trust_on_first_use=trust_server_key)
        index = client.entry(full).index
    if json_out:
        _print_json(
            {"entry": full, "index": index, "tree_size": signed.size, "origin": signed.origin}
        )
        return
    console.print(
        f"[green]proven[/]: entry {full} is leaf {index} of the log {signed.origin}, "
        f"tree size {signed.size}, whose checkpoint the log's key signed"
    )


def figures(
    member: Annotated[
        str | None,
        typer.Argument(
            metavar="MEMBER",
            help="a member's public key (or a unique prefix of it); or give --key",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option("--key", metavar="FILE", help="your key file: prove your own figures"),
    ] = None,
    verifier: VerifierOption = None,
    trust_server_key: TrustServerKeyOption = False,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="a signed checkpoint you kept (`multitude checkpoint --note > FILE`): prove "
            "the figures at its tree size rather than at the latest",
        ),
    ] = None,
    api: ApiOption = DEFAULT_API,
    json_out: JsonOption = False,
) -> None:
    """Prove a member's figures without trusting the server.

    Checks the member's record in the state map against a checkpoint signed by the log's key
    (the latest, or the one you kept with --checkpoint), and prints the figures only when the
    proof holds."""
    if (member is None) == (key is None):
        raise CommandError("give the member's public key, or your key file with --key (not both)")
    _need_verifier(verifier, trust_server_key)
    note = None if checkpoint is None else _kept_checkpoint(checkpoint)
    with _reporting(), _client(api, key) as client:
        if key is not None:
            full = client.public_key
        else:
            assert member is not None
            ident = member.strip().lower()
            prefix = PREFIX.fullmatch(ident)
            candidates = [m.member for m in client.members()] if prefix else []
            full = complete_id(ident, candidates, "member", noun="key")
        if note is not None:
            assert checkpoint is not None
            verifier = _opens(note, checkpoint, verifier or client.log_key())
        proven = client.verify_member(
            full, verifier, trust_on_first_use=trust_server_key, checkpoint=note
        )
    if json_out:
        _print_json(proven)
        return
    console.print(f"[bold]{proven.name}[/]  (member {proven.member})")
    console.print(f"reputation {proven.reputation} · tokens {proven.tokens}")
    console.print(f"referred by {proven.referrer}" if proven.referrer else "no referrer")
    kept = "" if checkpoint is None else f" (the one kept in {checkpoint})"
    console.print(
        f"[green]proven against checkpoint {proven.tree_size}[/]{kept} of the log "
        f"{proven.origin}, which the log's key signed"
    )


def _kept_checkpoint(path: Path) -> str:
    """The signed checkpoint kept in `path`, once it reads as one (its signature is checked
    against the log's key later)."""
    from ledger import checkpoint as cp

    how = "keep the text `multitude checkpoint --note` prints (GET /v1/log/checkpoint)"
    try:
        note = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise CommandError(f"there is no checkpoint file {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a directory, not a checkpoint file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not a signed checkpoint (not UTF-8 text): {how}") from None
    split = note.rfind("\n\n")
    if split < 0:
        raise CommandError(f"{path} is not a signed checkpoint (it has no signature): {how}")
    try:
        cp.parse_checkpoint_body(note[: split + 1])
    except LedgerError as exc:
        raise CommandError(f"{path} is not a signed checkpoint ({exc}): {how}") from None
    return note


def _opens(note: str, path: Path, verifier: str) -> str:
    """`verifier`, once the checkpoint kept in `path` verifies with it."""
    from ledger import checkpoint as cp

    try:
        key = cp.parse_verifier_key(verifier)
    except LedgerError as exc:
        raise CommandError(f"the verifier key is not one: {exc}") from None
    try:
        cp.open_checkpoint(note, key)
    except LedgerError as exc:
        raise CommandError(
            f"the checkpoint in {path} does not verify with the log's key {key.name}: {exc}"
        ) from None
    return verifier


COMMANDS: dict[str, Callable[..., None]] = {
    "keygen": keygen,
    "join": join,
    "contribute": contribute,
    "evaluate": evaluate,
    "members": members,
    "leaderboard": leaderboard,
    "contributions": contributions,
    "show": show,
    "checkpoint": checkpoint,
    "prove": prove,
    "figures": figures,
}


# `evaluate KEY ID -1`: a negative value is a value, not an unknown option.
_SETTINGS: dict[str, dict[str, Any]] = {"evaluate": {"ignore_unknown_options": True}}


def register(app: typer.Typer) -> None:
    """Add the member's commands to `app`."""
    for name, function in COMMANDS.items():
        app.command(name=name, context_settings=_SETTINGS.get(name))(function)

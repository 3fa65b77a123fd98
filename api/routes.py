"""The REST endpoints of SPEC section 6: thin functions that call the ledger and shape replies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Sized
from concurrent.futures import Executor
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.routing import Route

from api import schemas
from api.problems import (
    PROBLEM_MEDIA_TYPE,
    PROBLEM_SCHEMA,
    ProblemError,
    documented,
    problem_of,
)
from ledger import jsonstrict, reads
from ledger import repository as repo
from ledger.db import read_session
from ledger.entries import stored_leaf
from ledger.errors import LedgerError, MalformedJSONError, NotFoundError
from ledger.service import MAX_BATCH, Appended, Ledger

router = APIRouter(prefix="/v1")
Result = TypeVar("Result")

HEX64 = r"^[0-9a-f]{64}$"
Key = Annotated[str, Path(pattern=HEX64, description="a member's public key, 64 lowercase hex")]
EntryId = Annotated[str, Path(pattern=HEX64, description="an entry id, 64 lowercase hex")]
Start = Annotated[int, Query(ge=0, le=2**53, description="the first log index to list")]
Offset = Annotated[int, Query(ge=0, le=2**53, description="how many items to skip")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many items (1 to 1,000)")]
TreeSize = Annotated[int, Query(ge=0, le=2**53, description="the size of the tree to prove in")]

SIGNED_ENTRY: dict[str, Any] = {
    "type": "object",
    "description": "A signed entry (SPEC section 2), read as strict JSON",
    "required": ["v", "network", "kind", "author", "seq", "ts", "body", "sig"],
    "additionalProperties": False,
    "properties": {
        "v": {"type": "integer", "enum": [1]},
        "network": {"type": "string"},
        "kind": {"type": "string"},
        "author": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "seq": {"type": "integer", "minimum": 1},
        "ts": {"type": "string"},
        "body": {"type": "object"},
        "sig": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
    },
}


def _json_request(schema: dict[str, Any]) -> dict[str, Any]:
    """The body a route reads raw (strict JSON), declared for the OpenAPI document."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# Writes may also meet the per-client write limit (api/limits.py).
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **documented(400, 409, 413, 422, 503),
    429: {
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        "description": "Too many writes from this client: retry after `Retry-After` seconds",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}
PROBLEMS = documented(400, 404, 503)


def _next_offset(offset: int, limit: int, page: Sized) -> int | None:
    """The offset of the next page, given a page fetched with one item more than `limit`."""
    return offset + limit if len(page) > limit else None


async def get_ledger(request: Request) -> Ledger:
    # async: FastAPI would run a plain function in its thread pool, a hand-off per request.
    ledger: Ledger = request.app.state.ledger
    return ledger


def get_session(ledger: Annotated[Ledger, Depends(get_ledger)]) -> Iterator[Session]:
    with read_session(ledger.engine) as session:
        yield session


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
SessionDep = Annotated[Session, Depends(get_session)]


async def _json_body(request: Request, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise ProblemError(
            413, "too-large", "Body too large", f"body of {len(body)} bytes exceeds {limit} bytes"
        )
    if not body:
        raise MalformedJSONError("the request has no body: send one JSON document")
    return jsonstrict.loads(body)


# --- appends --------------------------------------------------------------------------------


async def _appending(request: Request, append: Callable[[Any], Result], entries: Any) -> Result:
    """`append(entries)` on the app's append threads (`api.app.APPEND_THREADS`), where it
    blocks until its group is committed. asyncio's own hand-off, not the thread pool every
    other blocking call takes: anyio's adds a capacity limiter and a cancel scope to every
    call, on the path of every write, and that pool's 40 threads would also cap how many
    requests share a commit."""
    threads: Executor = request.app.state.append_threads
    return await asyncio.get_running_loop().run_in_executor(threads, append, entries)


@router.post(
    "/entries",
    status_code=201,
    response_model=schemas.AppendedOut,
    responses=WRITE_PROBLEMS,
    openapi_extra=_json_request(SIGNED_ENTRY),
    tags=["entries"],
    summary="Append one signed entry",
    description=(
        "The entry is signed by its author on their own machine (SPEC section 2) and read as "
        "strict JSON. The reply comes after the commit: its index, its id and the hash of its "
        "leaf. A refused entry changes nothing."
    ),
)
async def post_entry(request: Request) -> Response:
    # The ledger read off the app: the plain route below that serves this endpoint resolves
    # no dependencies.
    ledger: Ledger = request.app.state.ledger
    data = await _json_body(request, request.app.state.settings.max_entry_bytes)
    result = await _appending(request, ledger.append_one, data)
    await request.app.state.events.notify(result.index + 1)
    # schemas.AppendedOut, written directly: the response model's validation and encoding
    # are a large part of a one-entry request's cost.
    return Response(
        json.dumps(_appended(result), separators=(",", ":")), 201, media_type="application/json"
    )


# The same endpoint, dispatched by a plain Starlette route ahead of the one above (which stays,
# to describe it in the OpenAPI document): FastAPI's request handler, around an endpoint that
# takes nothing but the request, still cost a tenth of a write's time in a worker.
router.routes.insert(0, Route("/v1/entries", post_entry, methods=["POST"], include_in_schema=False))


@router.post(
    "/entries/batch",
    response_model=schemas.BatchOut,
    response_model_exclude_none=True,
    responses=WRITE_PROBLEMS,
    tags=["entries"],
    openapi_extra=_json_request(
        {
            "type": "object",
            "required": ["entries"],
            "additionalProperties": False,
            "properties": {
                "entries": {"type": "array", "items": SIGNED_ENTRY, "minItems": 1, "maxItems": 1000}
            },
        }
    ),
    summary="Append up to 1,000 signed entries in order; one result per entry",
    description=(
        "Each entry is appended or refused on its own, in order: a refused entry changes "
        "nothing, and the entries after it are still tried (a later entry of the same author "
        "then usually fails on its seq). An entry over 64 KiB gets its own 413 result."
    ),
)
async def post_batch(request: Request, ledger: LedgerDep) -> Response:
    data = await _json_body(request, request.app.state.settings.max_body_bytes)
    if (
        not isinstance(data, dict)
        or set(data) != {"entries"}
        or not isinstance(data["entries"], list)
    ):
        raise MalformedJSONError('the body must be {"entries": [...]} and nothing else')
    entries = data["entries"]
    if not 1 <= len(entries) <= MAX_BATCH:
        raise ProblemError(
            413 if entries else 400,
            "batch-size",
            "Bad batch size",
            f"a batch holds 1 to {MAX_BATCH} entries, not {len(entries)}",
        )
    limit = request.app.state.settings.max_entry_bytes
    oversize = _oversize(entries, limit) if len(await request.body()) > limit else {}
    kept = [entry for i, entry in enumerate(entries) if i not in oversize]
    appended_or_refused = iter(await _appending(request, ledger.append, kept) if kept else [])
    results = [
        _too_large(i, oversize[i], limit) if i in oversize else next(appended_or_refused)
        for i in range(len(entries))
    ]
    out = [_batch_result(r) for r in results]
    appended = sum(1 for r in results if isinstance(r, Appended))
    if appended:
        last = max(r.index for r in results if isinstance(r, Appended))
        await request.app.state.events.notify(last + 1)
    # schemas.BatchOut, written directly: a thousand results through the response model's
    # validation and encoding cost more than appending them.
    document = {"results": out, "appended": appended, "refused": len(results) - appended}
    return Response(json.dumps(document, separators=(",", ":")), media_type="application/json")


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _oversize(entries: list[Any], limit: int) -> dict[int, int]:
    """The entries of a batch over the limit of one entry (SPEC section 2: 64 KiB), by
    position, with their sizes: their JSON without white space, in UTF-8, which is the length
    of their RFC 8785 form, as strict JSON holds no float and no lone surrogate. A single POST
    measures its whole body, which is never smaller."""
    sizes = ((i, len(_COMPACT(entry).encode("utf-8"))) for i, entry in enumerate(entries))
    return {i: size for i, size in sizes if size > limit}


def _too_large(position: int, size: int, limit: int) -> ProblemError:
    return ProblemError(
        413,
        "too-large",
        "Body too large",
        f"entry {position} of the batch is {size} bytes, over the limit of {limit} bytes for "
        "one entry",
    )


def _appended(result: Appended) -> dict[str, Any]:
    """The 201 body of an append (schemas.AppendedOut)."""
    return {
        "id": result.id,
        "index": result.index,
        "logged_at": result.logged_at,
        "leaf_hash": result.leaf_hash,
    }


def _batch_result(result: Appended | LedgerError | ProblemError) -> dict[str, Any]:
    if isinstance(result, Appended):
        return {"status": 201, **_appended(result)}
    problem = problem_of(result)
    return {key: problem[key] for key in ("status", "type", "title", "detail")}


# --- the log --------------------------------------------------------------------------------


def _item(row: Any) -> schemas.EntryItem:
    return schemas.EntryItem(
        index=row.idx,
        id=row.entry_id,
        logged_at=row.logged_at,
        leaf_hash=bytes(row.leaf_hash).hex(),
        entry=stored_leaf(bytes(row.leaf))[0],
    )


@router.get(
    "/entries",
    response_model=schemas.EntryPage,
    responses=PROBLEMS,
    tags=["entries"],
    summary="Entries in log order, a page at a time",
    description="Each item holds the signed entry, its index, id, logged_at and leaf hash; "
    "`next` is the index to start the next page at, or null at the end of the log.",
)
def list_entries(session: SessionDep, start: Start = 0, limit: Limit = 100) -> schemas.EntryPage:
    rows = repo.leaves(session, start, limit + 1)
    items = [_item(row) for row in rows[:limit]]
    return schemas.EntryPage(items=items, next=rows[limit].idx if len(rows) > limit else None)


@router.get(
    "/entries/{entry_id}",
    response_model=schemas.EntryItem,
    responses=PROBLEMS,
    tags=["entries"],
    summary="One entry by its id",
    description="An entry id is the hex SHA-256 of the JCS of the signed entry; contributions "
    "are named by their entry id.",
)
def get_entry(session: SessionDep, entry_id: EntryId) -> schemas.EntryItem:
    row = repo.leaf_by_entry_id(session, entry_id)
    if row is None:
        raise NotFoundError(f"no entry has id {entry_id[:16]}…")
    return _item(row)


@router.get(
    "/log/leaves",
    responses={200: {"content": {"application/x-ndjson": {}}}, **PROBLEMS},
    response_class=StreamingResponse,
    tags=["log"],
    summary="The exact leaf bytes, one a line, streamed (by default every leaf from `start`)",
    description="For mirrors and auditors: each line is the leaf as it was hashed into the "
    "tree, so that a mirror can recompute every hash.",
)
def get_leaves(
    ledger: LedgerDep,
    start: Start = 0,
    limit: Annotated[
        int, Query(ge=1, le=2**53, description="at most this many leaves (default: all)")
    ] = 2**53,
) -> StreamingResponse:
    lines = (raw + b"\n" for raw in ledger.leaf_bytes(start, limit))
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **PROBLEMS},
    tags=["log"],
    summary="The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
    description="The origin, tree size and root hash, with the state line, signed by the "
    "log's key (SPEC section 4). Check it with the verifier key of `GET /v1/log/key`, "
    "obtained from the operator rather than from this server.",
)
def get_checkpoint(ledger: LedgerDep) -> PlainTextResponse:
    _, note = ledger.latest_checkpoint()
    return PlainTextResponse(note)


@router.get(
    "/log/key",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **PROBLEMS},
    tags=["log"],
    summary="The log's verifier key (C2SP signed-note verifier key)",
    description="`<origin>+<key id>+<base64 key>`. `multitude serve` prints the same key when "
    "it starts; compare them before trusting checkpoints.",
)
def get_key(ledger: LedgerDep) -> PlainTextResponse:
    return PlainTextResponse(ledger.network().verifier_key)


@router.get(
    "/log/proof/inclusion",
    response_model=schemas.InclusionProof,
    responses=PROBLEMS,
    tags=["log"],
    summary="An inclusion proof: the leaf at `index` is in the tree of `tree_size` leaves",
    description="The audit path of RFC 9162 section 2.1.3, from stored subtree hashes. An index "
    "at or beyond the tree size is refused (400).",
)
def get_inclusion(
    ledger: LedgerDep,
    index: Annotated[int, Query(ge=0, le=2**53, description="the leaf's index in the log")],
    tree_size: TreeSize,
) -> schemas.InclusionProof:
    hashes = ledger.inclusion_proof(index, tree_size)
    return schemas.InclusionProof(
        leaf_index=index, tree_size=tree_size, hashes=[h.hex() for h in hashes]
    )


@router.get(
    "/log/proof/consistency",
    response_model=schemas.ConsistencyProof,
    responses=PROBLEMS,
    tags=["log"],
    summary="A consistency proof: the tree of `second` leaves extends the tree of `first`",
    description="RFC 9162 section 2.1.4. A proof from size 0 is refused (400), as is a first "
    "size beyond the second.",
)
def get_consistency(
    ledger: LedgerDep,
    first: Annotated[int, Query(ge=0, le=2**53, description="the older tree size")],
    second: Annotated[int, Query(ge=0, le=2**53, description="the newer tree size")],
) -> schemas.ConsistencyProof:
    hashes = ledger.consistency_proof(first, second)
    return schemas.ConsistencyProof(first=first, second=second, hashes=[h.hex() for h in hashes])


TreeSizeQuery = Annotated[
    int | None,
    Query(ge=0, le=2**53, description="a checkpointed tree size (default: the latest)"),
]


@router.get(
    "/state",
    response_model=schemas.StateRoot,
    responses=PROBLEMS,
    tags=["log"],
    summary="The state map's root at a checkpointed tree size",
)
def get_state(ledger: LedgerDep, tree_size: TreeSizeQuery = None) -> schemas.StateRoot:
    """The root the checkpoint of `tree_size` signs in its `state` line (default: the latest
    checkpoint). Sizes without a checkpoint, or with one signed before the state map, are 404."""
    size, root = ledger.state_root_at(tree_size)
    return schemas.StateRoot(tree_size=size, root=root.hex())


@router.get(
    "/state/proof",
    response_model=schemas.StateProofOut,
    responses=PROBLEMS,
    tags=["log"],
    summary="Prove one record of the state map (a member's figures) against a checkpoint",
)
def get_state_proof(
    ledger: LedgerDep,
    key: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1000,
            description="the record's key, e.g. `member/<64 hex>`, `network`",
        ),
    ],
    tree_size: TreeSizeQuery = None,
) -> schemas.StateProofOut:
    """SPEC section 5's proof of `key` at a checkpointed `tree_size` (default: the latest):
    the record's value and the siblings of its path, or a proof that it is absent."""
    return schemas.StateProofOut.model_validate(ledger.state_proof(key, tree_size).to_json())


# --- figures --------------------------------------------------------------------------------


@router.get(
    "/members",
    response_model=schemas.MemberPage,
    responses=PROBLEMS,
    tags=["members"],
    summary="Every member, by reputation (or tokens), a page at a time",
    description="Ties are broken by key, ascending. `next` is the offset of the next page, or "
    "null.",
)
def list_members(
    session: SessionDep,
    order_by: Annotated[
        Literal["reputation", "tokens"],
        Query(description="the figure to rank by, descending"),
    ] = "reputation",
    offset: Offset = 0,
    limit: Limit = 100,
) -> schemas.MemberPage:
    return _member_page(session, order_by, offset, limit)


@router.get(
    "/members/{key}",
    response_model=schemas.MemberOut,
    responses=PROBLEMS,
    tags=["members"],
    summary="One member: reputation, tokens, influence, rank and next seq",
    description="For a key that has not joined, a 404 problem `not-a-member` that carries "
    "`next_seq`, the seq its first entry must have.",
)
def get_member(session: SessionDep, key: Key) -> schemas.MemberOut:
    return schemas.MemberOut.of(reads.member(session, key))


@router.get(
    "/members/{key}/history",
    response_model=schemas.HistoryPage,
    responses=PROBLEMS,
    tags=["members"],
    summary="A member's reputation and tokens after each log index that changed them",
    description="Each item lists the postings of that index (fee, stake fee, rewards, shares), "
    "each with its cause: together they explain every change of the member's figures.",
)
def get_history(
    session: SessionDep, key: Key, start: Start = 0, limit: Limit = 100
) -> schemas.HistoryPage:
    steps, following = reads.history(session, key, start, limit)
    return schemas.HistoryPage(
        member=key, items=[schemas.HistoryItem.of(step) for step in steps], next=following
    )


@router.get(
    "/contributions",
    response_model=schemas.ContributionPage,
    responses=PROBLEMS,
    tags=["contributions"],
    summary="Contributions by feed score (or newest first), a page at a time",
    description="The feed score fades with age (VALUATION.md); quality and score are read-time "
    "figures.",
)
def list_contributions(
    session: SessionDep,
    order_by: Annotated[
        Literal["score", "time"],
        Query(description="score: the feed, best first; time: newest first"),
    ] = "score",
    offset: Offset = 0,
    limit: Limit = 50,
) -> schemas.ContributionPage:
    page = reads.ranked_contributions(session, order_by, offset, limit + 1)
    items = [schemas.ContributionOut.of(c) for c in page[:limit]]
    return schemas.ContributionPage(items=items, next=_next_offset(offset, limit, page))


@router.get(
    "/contributions/{cid}",
    response_model=schemas.ContributionOut,
    responses=PROBLEMS,
    tags=["contributions"],
    summary="One contribution with its figures and evaluations",
    description="A contribution is named by the id of the entry that submitted it.",
)
def get_contribution(session: SessionDep, cid: EntryId) -> schemas.ContributionOut:
    return schemas.ContributionOut.of(reads.contribution(session, cid))


@router.get(
    "/leaderboard",
    response_model=schemas.MemberPage,
    responses=PROBLEMS,
    tags=["members"],
    summary="The top members by reputation (or tokens)",
    description="Ranked by the figure, descending, then by key ascending; 20 by default.",
)
def get_leaderboard(
    session: SessionDep,
    by: Annotated[
        Literal["reputation", "tokens"], Query(description="the figure to rank by, descending")
    ] = "reputation",
    offset: Offset = 0,
    limit: Limit = 20,
) -> schemas.MemberPage:
    return _member_page(session, by, offset, limit)


def _member_page(session: Session, by: str, offset: int, limit: int) -> schemas.MemberPage:
    page = reads.leaderboard(session, by, offset, limit + 1)
    items = [schemas.MemberOut.of(m) for m in page[:limit]]
    return schemas.MemberPage(items=items, next=_next_offset(offset, limit, page))


# --- small reads for dashboards -----------------------------------------------------------


@router.get(
    "/stats",
    response_model=schemas.StatsOut,
    responses=PROBLEMS,
    tags=["network"],
    summary="The network's counts and its state root, all at one tree size",
    description="Members, contributions, R (the reputation of all members) and the state root, "
    "read together so that they agree.",
)
def get_stats(session: SessionDep) -> schemas.StatsOut:
    return schemas.StatsOut.of(reads.stats(session))


@router.get(
    "/members/{key}/contributions",
    response_model=schemas.MemberContributionPage,
    responses=PROBLEMS,
    tags=["members"],
    summary="A member's own contributions with their figures, newest first",
    description="The same items as `GET /v1/contributions`, for one author.",
)
def get_member_contributions(
    session: SessionDep, key: Key, offset: Offset = 0, limit: Limit = 50
) -> schemas.MemberContributionPage:
    page = reads.member_contributions(session, key, offset, limit + 1)
    return schemas.MemberContributionPage(
        member=key,
        items=[schemas.ContributionOut.of(c) for c in page[:limit]],
        next=_next_offset(offset, limit, page),
    )


@router.get(
    "/members/{key}/evaluations",
    response_model=schemas.MemberEvaluationPage,
    responses=PROBLEMS,
    tags=["members"],
    summary="A member's current evaluations, newest first",
    description="A changed vote is listed once, as it stands now, at the index of the change.",
)
def get_member_evaluations(
    session: SessionDep, key: Key, offset: Offset = 0, limit: Limit = 100
) -> schemas.MemberEvaluationPage:
    page = reads.member_evaluations(session, key, offset, limit + 1)
    return schemas.MemberEvaluationPage(
        member=key,
        items=[
            schemas.MemberEvaluationOut(
                contribution=e.contribution, title=e.title, value=e.value, index=e.index
            )
            for e in page[:limit]
        ],
        next=_next_offset(offset, limit, page),
    )


@router.get(
    "/contributions/{cid}/history",
    response_model=schemas.ContributionHistoryPage,
    responses=PROBLEMS,
    tags=["contributions"],
    summary="A contribution's figures after its submission and after each of its evaluations",
    description=(
        "One item for the submission and one for each evaluation of the contribution, in log "
        "order, changed votes included (`current` is false for a vote its evaluator changed "
        "later). Each item's figures are exact just after that entry: R, W(c, v), quality and "
        "the maximum score, derived from the logged rows, and what the entry paid or cost. "
        "Between two items the quality moves too, because other entries change R and the "
        "evaluators' reputation; those indexes are not listed, so joining the points gives "
        "the quality at these indexes, not in between. For the figures now, read "
        "`GET /v1/contributions/{id}`."
    ),
)
def get_contribution_history(
    session: SessionDep, cid: EntryId, start: Start = 0, limit: Limit = 100
) -> schemas.ContributionHistoryPage:
    points, following = reads.contribution_history(session, cid, start, limit)
    return schemas.ContributionHistoryPage(
        contribution=cid,
        items=[schemas.ContributionPointOut.of(p) for p in points],
        next=following,
    )

"""The REST endpoints of SPEC section 6: thin functions that call the ledger and shape replies."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sized
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api import schemas
from api.problems import ProblemError, problem_of
from ledger import jsonstrict, reads
from ledger import repository as repo
from ledger.db import read_session
from ledger.errors import LedgerError, MalformedJSONError, NotFoundError
from ledger.service import MAX_BATCH, Appended, Ledger
from valuation import format_amount

router = APIRouter(prefix="/v1")

HEX64 = r"^[0-9a-f]{64}$"
Key = Annotated[str, Path(pattern=HEX64, description="a member's public key, 64 lowercase hex")]
EntryId = Annotated[str, Path(pattern=HEX64, description="an entry id, 64 lowercase hex")]
Start = Annotated[int, Query(ge=0, le=2**53, description="first index")]
Offset = Annotated[int, Query(ge=0, le=2**53)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Size = Annotated[int, Query(ge=0, le=2**53)]

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


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.Problem, "content": {"application/problem+json": {}}}
    for status in (400, 404, 409, 413, 422, 503)
}


def _next_offset(offset: int, limit: int, page: Sized) -> int | None:
    """The offset of the next page, given a page fetched with one item more than `limit`."""
    return offset + limit if len(page) > limit else None


def get_ledger(request: Request) -> Ledger:
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


@router.post(
    "/entries",
    status_code=201,
    response_model=schemas.AppendedOut,
    responses=PROBLEMS,
    openapi_extra=_json_request(SIGNED_ENTRY),
    summary="Append one signed entry",
)
async def post_entry(request: Request, ledger: LedgerDep) -> schemas.AppendedOut:
    data = await _json_body(request, request.app.state.settings.max_entry_bytes)
    result = await run_in_threadpool(ledger.append_one, data)
    await request.app.state.events.notify()
    return schemas.AppendedOut.of(result)


@router.post(
    "/entries/batch",
    response_model=schemas.BatchOut,
    response_model_exclude_none=True,
    responses=PROBLEMS,
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
        "then usually fails on its seq)."
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
    results = await run_in_threadpool(ledger.append, entries)
    out = [_batch_result(r) for r in results]
    appended = sum(1 for r in results if isinstance(r, Appended))
    if appended:
        await request.app.state.events.notify()
    # schemas.BatchOut, written directly: a thousand results through the response model's
    # validation and encoding cost more than appending them.
    document = {"results": out, "appended": appended, "refused": len(results) - appended}
    return Response(json.dumps(document, separators=(",", ":")), media_type="application/json")


def _batch_result(result: Appended | LedgerError) -> dict[str, Any]:
    if isinstance(result, Appended):
        return {
            "status": 201,
            "id": result.id,
            "index": result.index,
            "logged_at": result.logged_at,
            "leaf_hash": result.leaf_hash,
        }
    problem = problem_of(result)
    return {key: problem[key] for key in ("status", "type", "title", "detail")}


# --- the log --------------------------------------------------------------------------------


def _item(row: Any) -> schemas.EntryItem:
    leaf = json.loads(bytes(row.leaf))
    return schemas.EntryItem(
        index=row.idx,
        id=row.entry_id,
        logged_at=row.logged_at,
        leaf_hash=bytes(row.leaf_hash).hex(),
        entry=leaf["entry"],
    )


@router.get("/entries", response_model=schemas.EntryPage, responses=PROBLEMS)
def list_entries(session: SessionDep, start: Start = 0, limit: Limit = 100) -> schemas.EntryPage:
    rows = repo.leaves(session, start, limit + 1)
    items = [_item(row) for row in rows[:limit]]
    return schemas.EntryPage(items=items, next=rows[limit].idx if len(rows) > limit else None)


@router.get("/entries/{entry_id}", response_model=schemas.EntryItem, responses=PROBLEMS)
def get_entry(session: SessionDep, entry_id: EntryId) -> schemas.EntryItem:
    row = repo.leaf_by_entry_id(session, entry_id)
    if row is None:
        raise NotFoundError(f"no entry has id {entry_id[:16]}…")
    return _item(row)


@router.get(
    "/log/leaves",
    responses={200: {"content": {"application/x-ndjson": {}}}, **PROBLEMS},
    response_class=StreamingResponse,
    summary="The exact leaf bytes, one a line, streamed (by default every leaf from `start`)",
)
def get_leaves(
    ledger: LedgerDep,
    start: Start = 0,
    limit: Annotated[int, Query(ge=1, le=2**53)] = 2**53,
) -> StreamingResponse:
    lines = (raw + b"\n" for raw in ledger.leaf_bytes(start, limit))
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **PROBLEMS},
    summary="The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
)
def get_checkpoint(ledger: LedgerDep) -> PlainTextResponse:
    _, note, _ = ledger.latest_checkpoint()
    return PlainTextResponse(note)


@router.get(
    "/log/key",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, **PROBLEMS},
    summary="The log's verifier key (C2SP signed-note verifier key)",
)
def get_key(ledger: LedgerDep) -> PlainTextResponse:
    return PlainTextResponse(ledger.network().verifier_key)


@router.get("/log/proof/inclusion", response_model=schemas.InclusionProof, responses=PROBLEMS)
def get_inclusion(ledger: LedgerDep, index: Size, tree_size: Size) -> schemas.InclusionProof:
    hashes = ledger.inclusion_proof(index, tree_size)
    return schemas.InclusionProof(
        leaf_index=index, tree_size=tree_size, hashes=[h.hex() for h in hashes]
    )


@router.get("/log/proof/consistency", response_model=schemas.ConsistencyProof, responses=PROBLEMS)
def get_consistency(ledger: LedgerDep, first: Size, second: Size) -> schemas.ConsistencyProof:
    hashes = ledger.consistency_proof(first, second)
    return schemas.ConsistencyProof(first=first, second=second, hashes=[h.hex() for h in hashes])


@router.get("/state", response_model=schemas.StateDigest, responses=PROBLEMS)
def get_state(ledger: LedgerDep, tree_size: Size | None = None) -> schemas.StateDigest:
    size, digest = ledger.digest_at(tree_size)
    return schemas.StateDigest(tree_size=size, digest=digest)


# --- figures --------------------------------------------------------------------------------


@router.get("/members", response_model=schemas.MemberPage, responses=PROBLEMS)
def list_members(
    session: SessionDep,
    order_by: Literal["reputation", "tokens"] = "reputation",
    offset: Offset = 0,
    limit: Limit = 100,
) -> schemas.MemberPage:
    return _member_page(session, order_by, offset, limit)


@router.get("/members/{key}", response_model=schemas.MemberOut, responses=PROBLEMS)
def get_member(session: SessionDep, key: Key) -> schemas.MemberOut | Response:
    row = repo.member(session, key)
    if row is None:
        from api.problems import problem_body, response

        return response(
            problem_body(
                404,
                "not-a-member",
                "Not a member",
                f"{key[:16]}… has not joined this network; its next seq is "
                f"{repo.last_seq(session, key) + 1}",
                next_seq=repo.last_seq(session, key) + 1,
            )
        )
    return schemas.MemberOut.of(reads.member(session, key))


@router.get("/members/{key}/history", response_model=schemas.HistoryPage, responses=PROBLEMS)
def get_history(
    session: SessionDep, key: Key, start: Start = 0, limit: Limit = 100
) -> schemas.HistoryPage:
    if repo.member(session, key) is None:
        raise NotFoundError(f"{key[:16]}… is not a member of this network")
    rows = repo.history(session, key, start, limit + 1)
    page = rows[:limit]
    end = page[-1].idx + 1 if page else start
    postings: dict[int, list[schemas.Posting]] = {}
    for p in repo.postings(session, key, start, end):
        postings.setdefault(p.idx, []).append(
            schemas.Posting(
                asset=p.asset,
                amount=format_amount(p.amount),
                cause=p.cause,
                contribution=p.contribution,
                evaluator=p.evaluator,
            )
        )
    items = [
        schemas.HistoryItem(
            index=row.idx,
            reputation=format_amount(row.reputation),
            tokens=format_amount(row.tokens),
            postings=postings.get(row.idx, []),
        )
        for row in page
    ]
    return schemas.HistoryPage(
        member=key, items=items, next=rows[limit].idx if len(rows) > limit else None
    )


@router.get("/contributions", response_model=schemas.ContributionPage, responses=PROBLEMS)
def list_contributions(
    session: SessionDep,
    order_by: Literal["score", "time"] = "score",
    offset: Offset = 0,
    limit: Limit = 50,
) -> schemas.ContributionPage:
    page = reads.ranked_contributions(session, order_by, offset, limit + 1)
    items = [schemas.ContributionOut.of(c) for c in page[:limit]]
    return schemas.ContributionPage(items=items, next=_next_offset(offset, limit, page))


@router.get("/contributions/{cid}", response_model=schemas.ContributionOut, responses=PROBLEMS)
def get_contribution(session: SessionDep, cid: EntryId) -> schemas.ContributionOut:
    return schemas.ContributionOut.of(reads.contribution(session, cid))


@router.get("/leaderboard", response_model=schemas.MemberPage, responses=PROBLEMS)
def get_leaderboard(
    session: SessionDep,
    by: Literal["reputation", "tokens"] = "reputation",
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
    summary="The network's counts and its state digest, all at one tree size",
)
def get_stats(session: SessionDep) -> schemas.StatsOut:
    return schemas.StatsOut.of(reads.stats(session))


@router.get(
    "/members/{key}/contributions",
    response_model=schemas.MemberContributionPage,
    responses=PROBLEMS,
    summary="A member's own contributions with their figures, newest first",
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

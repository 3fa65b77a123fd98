"""RFC 9457 problem documents, built in one place from the domain's typed errors.

Every error class below `api` maps to exactly one problem type and HTTP status here; routes
raise domain errors and never build responses for failures themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import valuation
from ledger import errors

PROBLEM_MEDIA_TYPE = "application/problem+json"

# error class -> (status, slug, title); the first match in this order wins.
_MAPPING: list[tuple[type[Exception], int, str, str]] = [
    (errors.MalformedJSONError, 400, "malformed-json", "Malformed JSON"),
    (errors.ProofRequestError, 400, "bad-proof-request", "Impossible proof request"),
    (errors.SignatureError, 422, "bad-signature", "Bad signature"),
    (errors.EntryError, 422, "invalid-entry", "Invalid entry"),
    (errors.ConflictError, 409, "conflict", "Conflicts with the log"),
    (errors.RefusedError, 422, "refused", "Entry refused"),
    (valuation.ValuationError, 422, "refused", "Entry refused"),
    (errors.NotAMemberError, 404, "not-a-member", "Not a member"),
    (errors.NotFoundError, 404, "not-found", "Not found"),
    (errors.UnavailableError, 503, "unavailable", "Service unavailable"),
]


class ProblemError(Exception):
    """A problem raised by the API layer itself (bad query, body too large)."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra


def problem_body(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


# The JSON schema of `problem_body`'s documents, for the OpenAPI description of the API.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document; some problems add fields (e.g. next_seq)",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "the problem's type, e.g. /problems/not-found"},
        "title": {"type": "string", "description": "a short summary of the problem type"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "detail": {"type": "string", "description": "what is wrong, in a sentence"},
    },
    "additionalProperties": True,
}

_WHEN = {
    400: "The request is malformed: a bad parameter, or a body that is not strict JSON",
    404: "Not found",
    409: "The entry conflicts with the log (a seq already used, a duplicate)",
    413: "The body is too large",
    422: "The entry is refused: bad signature, bad shape, or refused by the rules",
    503: "The database is unavailable; retry after the Retry-After seconds",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route answering these problems, for OpenAPI: each one an
    `application/problem+json` document. Any other 4xx (405, 413 from the body limit, ...) is
    a problem document too; declaring it also stops FastAPI from documenting a 422 validation
    error that this API never sends (it answers 400)."""
    content = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}
    out: dict[int | str, dict[str, Any]] = {
        status: {"description": _WHEN[status], "content": content} for status in statuses
    }
    out["4XX"] = {"description": "Another client error, as a problem document", "content": content}
    return out


def problem_of(exc: Exception) -> dict[str, Any]:
    """The problem document for a domain error (used for batch results too)."""
    if isinstance(exc, ProblemError):
        return problem_body(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)
    for cls, status, slug, title in _MAPPING:
        if isinstance(exc, cls):
            return problem_body(status, slug, title, str(exc) or title, **_members(exc))
    return problem_body(500, "internal", "Internal error", "the server failed; this is our bug")


def _members(exc: Exception) -> dict[str, Any]:
    """The members a problem adds to carry its error's own figures (RFC 9457 extensions)."""
    if isinstance(exc, errors.NotAMemberError):
        return {"next_seq": exc.next_seq}
    return {}


def response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem, status_code=problem["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def install(app: FastAPI) -> None:
    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        problem = problem_of(exc)
        headers = {"Retry-After": "5"} if problem["status"] == 503 else None
        return response(problem, headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return response(problem_body(400, "bad-request", "Bad request", detail))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return response(problem_body(exc.status_code, slug, str(exc.detail), str(exc.detail)))

    app.add_exception_handler(errors.LedgerError, domain_error)
    app.add_exception_handler(valuation.ValuationError, domain_error)
    app.add_exception_handler(ProblemError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)

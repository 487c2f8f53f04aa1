"""The one small hierarchy of errors every layer raises.

Each class carries its HTTP status and CLI exit code, and each message is one sentence a
field operator understands: what is wrong, where, and how to fix it. No error message may
contain content the caller is not allowed to see.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class DeconflictError(Exception):
    """Base of every error deconflict raises on purpose."""

    code: str = "error"
    http_status: int = 400
    exit_code: int = 2

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Problem:
    """One rule broken by one feature of a declaration file."""

    index: int | None
    """Position of the feature in its FeatureCollection (0-based); None for the file itself."""
    id: str | None
    """The feature's `id` property, when it has a usable one."""
    rule: str
    """The rule broken, as one sentence."""
    source: str | None = field(default=None)
    """The file or request the feature came from, when known."""

    def __str__(self) -> str:
        where = self.source + ": " if self.source else ""
        if self.index is None:
            return f"{where}{self.rule}"
        ident = f" (id {self.id!r})" if self.id is not None else ""
        return f"{where}feature {self.index}{ident}: {self.rule}"


class InvalidDeclaration(DeconflictError):
    """A declaration or declaration file breaks a rule of SPEC section 2."""

    code = "invalid_declaration"
    http_status = 422
    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = str(self.problems[0])
        else:
            message = f"{len(self.problems)} problems; nothing was accepted: " + "; ".join(
                str(p) for p in self.problems[:5]
            )
            if len(self.problems) > 5:
                message += f"; and {len(self.problems) - 5} more"
        super().__init__(
            message,
            details=[
                {"index": p.index, "id": p.id, "rule": p.rule, "source": p.source}
                for p in self.problems
            ],
        )


@dataclass(frozen=True)
class ReportProblem:
    """One rule broken by one position report of a track file or message."""

    item: str | None
    """Where in its input: 'row 12', 'event 3', 'point 4 of track "a"'; None for the whole."""
    rule: str
    """The rule broken, as one sentence."""
    source: str | None = field(default=None)
    """The file, message kind or connection the report came from, when known."""

    def __str__(self) -> str:
        where = [part for part in (self.source, self.item) if part]
        return ": ".join([*where, self.rule])


class InvalidPositions(DeconflictError):
    """Position reports (a track file, a message, a batch) break a rule of SPEC section 5.

    `problems` holds at most a bounded number of them; `count` is how many there were."""

    code = "invalid_positions"
    http_status = 422
    exit_code = 2

    def __init__(self, problems: list[ReportProblem], *, count: int | None = None) -> None:
        self.problems = list(problems)
        self.count = max(count or 0, len(self.problems))
        if self.count == 1:
            message = str(self.problems[0])
        else:
            message = f"{self.count:,} problems; nothing was accepted: " + "; ".join(
                str(p) for p in self.problems[:5]
            )
            if self.count > 5:
                message += f"; and {self.count - 5:,} more"
        super().__init__(
            message,
            details=[{"item": p.item, "rule": p.rule, "source": p.source} for p in self.problems],
        )


class LimitExceeded(DeconflictError):
    """An input is larger than a configured bound allows."""

    code = "limit_exceeded"
    http_status = 413
    exit_code = 2


class NotFound(DeconflictError):
    """The thing named does not exist (or is not visible to the caller)."""

    code = "not_found"
    http_status = 404
    exit_code = 2


class AlreadyExists(DeconflictError):
    """Something with the same identity is already there."""

    code = "already_exists"
    http_status = 409
    exit_code = 2


class Forbidden(DeconflictError):
    """The caller may not do this."""

    code = "forbidden"
    http_status = 403
    exit_code = 2


class Unauthorized(DeconflictError):
    """The call carries no valid token."""

    code = "unauthorized"
    http_status = 401
    exit_code = 2


class InvalidRequest(DeconflictError):
    """A request's form is wrong (a missing field, a header that cannot be read)."""

    code = "invalid_request"
    http_status = 422
    exit_code = 2


class PreconditionRequired(DeconflictError):
    """A change must name the version it replaces (If-Match) and did not."""

    code = "precondition_required"
    http_status = 428
    exit_code = 2


class StaleVersion(DeconflictError):
    """A change named a version that is no longer the current one."""

    code = "stale_version"
    http_status = 412
    exit_code = 2


class BadRequestSignature(DeconflictError):
    """A signature sent with a request does not verify."""

    code = "bad_signature"
    http_status = 422
    exit_code = 2

"""The GraphQL schema: the query root, the mutations, and the limits that keep it safe to
expose (cost and time, in limits.py; depth, aliases; page sizes are checked where pages
are cut)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, QueryDepthLimiter
from strawberry.types import ExecutionContext

from grassroots.api.limits import CostLimit, TimeLimit
from grassroots.api.mutations import Mutation
from grassroots.api.queries import Query
from grassroots.errors import GrassrootsError
from grassroots.settings import Settings

log = logging.getLogger("grassroots.api")


def _expected(error: GraphQLError) -> bool:
    """A failure the caller can act on (a bad request, an unknown id), not a bug: its
    message is returned. graphql-core reports a variable it cannot coerce as a
    GraphQLError wrapping another GraphQLError."""
    return error.original_error is None or isinstance(
        error.original_error, GrassrootsError | GraphQLError
    )


def _kind(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if code:
        return str(code)
    if error.original_error is None or isinstance(error.original_error, GraphQLError):
        return "invalid request"
    return error.original_error.__class__.__name__


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # One line per error: what kind of error and where, never its message nor the
        # variables. Messages quote argument values ("no PartyOrg has id '1339...'", "got
        # invalid value '1339...'"), and a value typed into an argument may be a phone
        # number; the caller gets the message, the log does not.
        for error in errors:
            where = ".".join(str(step) for step in error.path) if error.path else "-"
            if _expected(error):
                log.info("graphql: %s at %s", _kind(error), where)
            else:
                log.error("graphql: internal error at %s: %s", where, _kind(error))


def build_schema(settings: Settings | None = None) -> Schema:
    limits = settings or Settings()
    # factories, so that each request gets its own extension instances
    # one lane for long queries per schema, so per app and its event loop (an
    # uncontended asyncio semaphore binds to no loop: the test client's loop per request
    # is no problem)
    lane = asyncio.Semaphore(1)
    extensions: list[Any] = [
        lambda: CostLimit(limits.api_max_cost, min(100, limits.api_max_page), lane),
        lambda: TimeLimit(limits.api_time_limit),
        lambda: QueryDepthLimiter(max_depth=limits.api_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=limits.api_max_aliases),
        lambda: MaskErrors(
            should_mask_error=lambda e: not _expected(e),
            error_message="internal error; it has been logged",
        ),
    ]
    return Schema(query=Query, mutation=Mutation, extensions=extensions)

"""What keeps one request from taking the server: a cost limit checked before execution,
a time limit on execution, and a limit on the request body.

*Cost* is an estimate of the values a query resolves: every field counts once for each
time it is resolved, and a list multiplies what lies below it by its page size, ``first``
where the field takes it (its default where the query leaves it out) and ``UNPAGED_LIST``
for a list without ``first``. Aliases and fragments count as often as they occur. So
``{ areas(first: 100) { edges { node { children { name } } } } }`` costs
1 + 100 (edges) + 100 (node) + 100 x 20 (children) + 100 x 20 (name) = 4,201. The
estimate is pessimistic by design: a community has a few grids, not 20, but a query
is priced before anything is read.
A field that searches the graph before it answers (``SEARCHES``: ``linkPath``) adds
the price of its search each time it is resolved.

*Time* is bounded at every point where execution waits for the store: each batched read
of a DataLoader. A request past its time stops there with one error. A single read
already running (a coverage report, an org chart, one batch) is not interrupted; the
cost limit is what keeps those small.

*Long queries* (over ``LONG_QUERY`` characters) are parsed, priced and validated in a
worker thread, one at a time, so that a flood of them cannot hold the event loop.

*The body* is limited before anything reads it (``BodyLimit``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    parse,
)
from graphql.pyutils import Undefined
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType as Operation

from grassroots.errors import GrassrootsError

UNPAGED_LIST = 20
"""The size assumed for a list field without ``first`` (children, posts, contacts...)."""


TREES = {"orgChart": "depth"}
"""List fields whose size grows with a depth argument, not with ``first``."""

SEARCHES = {"linkPath": 5_000}
"""Fields that search the graph before they return anything, and what each search costs
on top of what it returns: a link path reads up to thousands of nodes a hop
(``grassroots.queries.paths``), so twenty of them in one request are the limit."""


class LimitExceeded(GrassrootsError):
    """A request over one of the API's limits; the message says which and what to ask."""


def estimate_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    default_page: int = 100,
) -> int:
    """The estimated cost of the operation ``operation_name`` of ``document`` (of the
    costliest operation, when no name is given).

    It tolerates an invalid document (unknown fields count 1) since it runs before
    validation: a query too costly to run is refused without being validated.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    costs = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        root = {
            OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type,
        }[definition.operation]
        pricing = _Pricing(schema, fragments, _variables(definition, variables), default_page)
        costs.append(pricing.selections(definition.selection_set, root, 1, None, ()))
    return max(costs, default=0)


def _variables(
    operation: OperationDefinitionNode, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The operation's variables: as given, else their defaults in the document."""
    found: dict[str, Any] = dict(given or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        default = definition.default_value
        if name not in found and isinstance(default, IntValueNode):
            found[name] = int(default.value)
    return found


class _Pricing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        default_page: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page = default_page

    def selections(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        times: int,
        page: int | None,
        spread: tuple[str, ...],
    ) -> int:
        """The cost of ``selection_set`` resolved ``times`` times on ``parent``. ``page``
        is the ``first`` of the connection this selection set is the inside of: its one
        list (``edges``) has that size."""
        cost = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                cost += self.field(selection, parent, times, page, spread)
            elif isinstance(selection, InlineFragmentNode):
                kind = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                cost += self.selections(selection.selection_set, kind, times, page, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:  # unknown or cyclic: validation says
                    continue
                kind = self.schema.get_type(fragment.type_condition.name.value)
                cost += self.selections(fragment.selection_set, kind, times, page, (*spread, name))
        return cost

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        times: int,
        page: int | None,
        spread: tuple[str, ...],
    ) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(name)
        if name.startswith("__") or definition is None:
            # introspection (bounded by the schema, and what GraphiQL asks on load), or a
            # field validation will reject
            return times
        is_list = isinstance(get_nullable_type(definition.type), GraphQLList)
        size, inner = 1, None
        if name in TREES:
            # a flat list of a subtree: up to UNPAGED_LIST children per level
            levels = self.number(node, TREES[name], definition.args[TREES[name]].default_value)
            size = UNPAGED_LIST ** min(levels, 8)
        elif "first" in definition.args:
            first = self.number(node, "first", definition.args["first"].default_value)
            if is_list:
                size = first
            else:
                inner = first  # a connection: its edges have this size
        elif is_list:
            size = page if page is not None else UNPAGED_LIST
        resolved = times * size
        searched = times * SEARCHES.get(name, 0)
        if node.selection_set is None:
            return resolved + searched
        named = get_named_type(definition.type)
        inside = self.selections(node.selection_set, named, resolved, inner, spread)
        return resolved + searched + inside

    def number(self, node: FieldNode, name: str, default: Any) -> int:
        """The integer argument ``name`` of a field (``first``, ``depth``): as written, as
        a variable holds it, or the argument's default; ``null`` means the default page."""
        value: Any = Undefined
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            literal = argument.value
            if isinstance(literal, IntValueNode):
                value = int(literal.value)
            elif isinstance(literal, VariableNode):
                value = self.variables.get(literal.name.value, Undefined)
            else:
                value = None
        if value is Undefined:
            value = default
        if isinstance(value, bool) or not isinstance(value, int):
            return self.default_page
        return max(value, 0)


def _cost_error(estimate: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"this query's estimated cost is {estimate:,}, over the limit of {limit:,}"
        " (GRASSROOTS_API_MAX_COST); nothing was run. The estimate multiplies the page sizes"
        f" along each path (first, or {UNPAGED_LIST} for a list without first) and adds up"
        " fields and aliases: ask for smaller pages (a smaller first), fewer aliases or"
        " fewer nested lists, or split the query and page with after.",
        extensions={"code": "COST_LIMIT", "limit": limit, "estimate": estimate},
        original_error=LimitExceeded("cost"),
    )


LONG_QUERY = 4096
"""Queries longer than this many characters are parsed, priced and validated off the
event loop, one at a time."""


class CostLimit(SchemaExtension):
    """Refuses, before validation and execution, an operation whose estimated cost is
    over ``limit``.

    A long query is parsed, priced and validated in a worker thread, one long query at
    a time (``lane``). These steps are synchronous and take 5-10 ms per kilobyte of
    query on this project's 2-core machines: on the event loop, a flood of long queries,
    each refused a moment later, would hold the server for as long as all of them take,
    and a short query, which needs the loop many times over, would wait behind every
    one. In a thread they share the CPU with the loop instead.
    """

    def __init__(self, limit: int, default_page: int, lane: asyncio.Semaphore) -> None:
        super().__init__()
        self.limit = limit
        self.default_page = default_page
        self.lane = lane

    def _long(self) -> bool:
        return len(self.execution_context.query or "") > LONG_QUERY

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        if self._long() and context.graphql_document is None:
            async with self.lane:
                # a syntax error raised here reaches the caller as strawberry's own would
                context.graphql_document = await asyncio.to_thread(
                    parse, context.query or "", **context.parse_options
                )
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            if self._long():
                async with self.lane:
                    errors = await asyncio.to_thread(self._check, True)
            else:
                errors = self._check(False)
            if errors is not None:
                # strawberry skips its own validation once errors (even none) are set
                context.pre_execution_errors = errors
        yield

    def _check(self, validate: bool) -> list[GraphQLError] | None:
        """The cost error, if over the limit; else, if ``validate``, the validation's
        errors (an empty list when valid); else None, for strawberry to validate."""
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        schema = context.schema._schema
        estimate = estimate_cost(
            schema, document, context.variables, context.operation_name, self.default_page
        )
        if estimate > self.limit:
            return [_cost_error(estimate, self.limit)]
        if validate:
            return validate_document(schema, document, tuple(context.validation_rules))
        return None


class TimeLimit(SchemaExtension):
    """Stops a query's execution ``seconds`` after it began, at its next wait for the
    store. Mutations are not stopped half-way: each is one transaction, and the caller
    must learn whether it was written."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        try:
            is_query = self.execution_context.operation_type is Operation.QUERY
        except RuntimeError:  # no operation to run: strawberry reports it
            is_query = False
        if not is_query:
            yield
            return
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            raise GraphQLError(
                f"this query ran past the time limit of {self.seconds:g} s"
                " (GRASSROOTS_API_TIME_LIMIT) and was stopped: ask for less (smaller pages,"
                " fewer aliases, a narrower scope or asOf range) or split the query",
                extensions={"code": "TIME_LIMIT", "limit_seconds": self.seconds},
                original_error=LimitExceeded("time"),
            ) from None


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 with a JSON error,
    whether it declares its length or streams it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if not started:
                await self.refuse(send)

    async def refuse(self, send: Send) -> None:
        import orjson

        body = orjson.dumps(
            {
                "errors": [
                    {
                        "message": f"the request body is over {self.limit:,} bytes"
                        " (GRASSROOTS_API_MAX_BODY_BYTES): send a shorter query, and"
                        " values as variables of several smaller requests",
                        "extensions": {"code": "BODY_LIMIT", "limit": self.limit},
                    }
                ]
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass

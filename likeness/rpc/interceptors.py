"""Server interceptors: request context and logs, error mapping and validation, authentication.

grpc.aio runs an interceptor outside the task that runs the handler, so state set there (a
contextvar) would not reach the handler. Each interceptor therefore wraps the handler's behaviour
function instead, which runs inside the handler's task. Order, outermost first, as passed to the
server: RequestContext → ErrorMapping → Authentication → Validation → Brand (where the service
checks that the caller's brand exists) → handler.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc
import protovalidate
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from grpc import aio

from likeness import errors
from likeness.rpc import auth
from likeness.rpc.errors import internal_status, to_grpc_status
from likeness.rpc.logging import method_var, request_id_var

logger = logging.getLogger("likeness.rpc")

# Calls anyone may make without a token: probes and API discovery.
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Behavior = Callable[..., Any]
# (method, principal, request or None for client streams, the refusal) -> None
DeniedHook = Callable[[str, auth.Principal, Any, errors.PermissionDenied], Awaitable[None]]
# brand id -> whether the brand exists (created and not deleted)
BrandLookup = Callable[[str], Awaitable[bool]]
#: How long a brand found to exist is remembered (a brand that does not exist is asked about again).
BRAND_CACHE_S = 60.0
# (method, behavior, request_streaming, response_streaming) -> wrapped behavior
Wrapper = Callable[[str, Behavior, bool, bool], Behavior]
if TYPE_CHECKING:
    # Generic only in the type stubs.
    Context = aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Context = aio.ServicerContext
    Handler = grpc.RpcMethodHandler


def _rewrap(handler: Handler, method: str, wrapper: Wrapper) -> Handler:
    request_streaming = handler.request_streaming
    response_streaming = handler.response_streaming
    if request_streaming and response_streaming:
        behavior, factory = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif request_streaming:
        behavior, factory = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif response_streaming:
        behavior, factory = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        behavior, factory = handler.unary_unary, grpc.unary_unary_rpc_method_handler
    return factory(  # type: ignore[operator]
        wrapper(method, behavior, request_streaming, response_streaming),  # type: ignore[arg-type]
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _as_stream(behavior: Behavior) -> Behavior:
    """A response-streaming handler as an async iterator of its responses. Handlers may instead write
    their responses with ``context.write`` and return a coroutine (grpcio's own health servicer's
    Watch does): those are awaited, their responses having gone out through the context."""

    async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
        result = behavior(request, context)
        if not hasattr(result, "__aiter__"):
            await result
            return
        async for response in result:
            yield response

    return stream


class _WrappingInterceptor(aio.ServerInterceptor):
    """Base: subclasses implement ``around`` for unary responses and ``around_stream``."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _rewrap(handler, handler_call_details.method, self._wrap)  # type: ignore[arg-type]

    def _wrap(
        self, method: str, behavior: Behavior, request_streaming: bool, response_streaming: bool
    ) -> Behavior:
        if response_streaming:
            behavior = _as_stream(behavior)

            async def streaming(request: Any, context: Context) -> AsyncIterator[Any]:
                async for response in self.around_stream(
                    method, behavior, request, context, request_streaming
                ):
                    yield response

            return streaming

        async def unary(request: Any, context: Context) -> Any:
            return await self.around(method, behavior, request, context, request_streaming)

        return unary

    async def around(
        self,
        method: str,
        behavior: Behavior,
        request: Any,
        context: Context,
        request_streaming: bool,
    ) -> Any:
        return await behavior(request, context)

    async def around_stream(
        self,
        method: str,
        behavior: Behavior,
        request: Any,
        context: Context,
        request_streaming: bool,
    ) -> AsyncIterator[Any]:
        async for response in behavior(request, context):
            yield response


def _metadata(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


class RequestContextInterceptor(_WrappingInterceptor):
    """Gives every call a request id (the caller's ``x-request-id`` if sane) and logs its outcome."""

    async def _enter(self, context: Context) -> str:
        supplied = _metadata(context, REQUEST_ID_HEADER)
        request_id = supplied if supplied and _REQUEST_ID_PATTERN.match(supplied) else uuid.uuid4().hex
        request_id_var.set(request_id)
        # Trailing, not initial, metadata: headers sent early would commit the call and stop the
        # client's transparent retries of idempotent calls.
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        return request_id

    def _log(self, method: str, peer: str, code_name: str, started: float) -> None:
        principal = auth._current_principal.get()
        logger.info(
            "rpc finished",
            extra={
                "method": method,
                "code": code_name,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "peer": peer,
                "subject": principal.subject if principal else None,
                "brand": principal.brand_id if principal else None,
            },
        )

    @staticmethod
    def _code_name(context: Context) -> str:
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else "OK"

    # The peer is read on entry and the context is not touched once the call is cancelled: a
    # cancelled call's context may already be released by grpc's core.
    async def _begin(self, method: str, context: Context) -> tuple[float, str]:
        started = time.perf_counter()
        peer: str = context.peer()
        await self._enter(context)
        method_var.set(method)
        return started, peer

    async def around(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        started, peer = await self._begin(method, context)
        cancelled = False
        try:
            return await behavior(request, context)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._log(method, peer, "CANCELLED" if cancelled else self._code_name(context), started)

    async def around_stream(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        started, peer = await self._begin(method, context)
        cancelled = False
        try:
            async for response in behavior(request, context):
                yield response
        except (asyncio.CancelledError, GeneratorExit):
            cancelled = True
            raise
        finally:
            self._log(method, peer, "CANCELLED" if cancelled else self._code_name(context), started)


class ErrorMappingInterceptor(_WrappingInterceptor):
    """Turns domain errors into statuses with details; anything else becomes a bare INTERNAL."""

    async def _abort(self, method: str, error: BaseException, context: Context) -> None:
        request_id = (REQUEST_ID_HEADER, request_id_var.get())
        if isinstance(error, NotImplementedError):
            name = method.rsplit("/", 1)[-1]
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented yet", (request_id,)
            )
        if isinstance(error, errors.DomainError):
            status = to_grpc_status(error)
        else:
            logger.error("unhandled error in %s", method, exc_info=error)
            status = internal_status(request_id[1])
        await context.abort(status.code, status.details, (*status.trailing_metadata, request_id))

    async def around(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        try:
            return await behavior(request, context)
        except aio.AbortError:
            raise
        except Exception as error:  # noqa: BLE001 — this is the one place that maps every error
            await self._abort(method, error, context)

    async def around_stream(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        try:
            async for response in behavior(request, context):
                yield response
        except aio.AbortError:
            raise
        except Exception as error:  # noqa: BLE001
            await self._abort(method, error, context)


class AuthenticationInterceptor(_WrappingInterceptor):
    """Verifies the bearer token and the role each method needs; publishes the ``Principal``."""

    def __init__(
        self,
        verifier: auth.TokenVerifier,
        method_roles: Mapping[str, auth.AccessRule],
        on_denied: DeniedHook | None = None,
    ) -> None:
        self._verifier = verifier
        self._method_roles = dict(method_roles)
        self._on_denied = on_denied

    def _authenticate(self, method: str, context: Context) -> auth.Principal | None:
        if method.startswith(PUBLIC_SERVICES):
            return None
        header = _metadata(context, "authorization")
        if not header:
            raise errors.Unauthenticated("missing 'authorization: Bearer <token>' metadata")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.Unauthenticated("authorization metadata must be 'Bearer <token>'")
        principal = self._verifier.verify(token.strip())
        required = self._method_roles.get(method)
        if required is None:
            # A method without a declared role is a programming error; refuse rather than allow.
            raise errors.PermissionDenied(f"{method} has no access rule")
        return principal

    async def _checked(self, method: str, context: Context, request: Any) -> auth.Principal | None:
        principal = self._authenticate(method, context)
        if principal is None:
            return None
        try:
            auth.require_role(principal, self._method_roles[method], method.rsplit("/", 1)[-1])
        except errors.PermissionDenied as denied:
            if self._on_denied is not None:
                # A service that records refused attempts (an audit log) sees them here.
                await self._on_denied(method, principal, request, denied)
            raise
        return principal

    async def around(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        token = auth.set_current_principal(
            await self._checked(method, context, None if request_streaming else request)
        )
        try:
            return await behavior(request, context)
        finally:
            auth.reset_current_principal(token)

    async def around_stream(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        token = auth.set_current_principal(
            await self._checked(method, context, None if request_streaming else request)
        )
        try:
            async for response in behavior(request, context):
                yield response
        finally:
            auth.reset_current_principal(token)


def field_path(violation: Any) -> str:
    """``reference_photos[1].image`` style path of a protovalidate violation ("" for the message)."""
    field = violation.proto.field
    if field is None:
        return ""
    parts: list[str] = []
    for element in field.elements:
        part = element.field_name
        subscript = element.subscript
        if subscript is not None:
            key = subscript.value
            part += f"[{key!r}]" if isinstance(key, str) else f"[{key}]"
        parts.append(part)
    return ".".join(parts)


_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
NUL = "must not contain a NUL character"
NOT_FINITE = "must be a finite number"
BAD_TIME = "must be a valid time between 0001-01-01 and 9999-12-31 (nanos 0 to 999999999)"
BAD_DURATION = "must be a valid duration (at most 10,000 years; nanos with the sign of seconds)"
# google.protobuf.Timestamp's documented range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
_MAX_DURATION_SECONDS = 315_576_000_000


def _well_known(full_name: str, path: str, value: Any) -> Iterator[tuple[str, str]]:
    """Out-of-range Timestamps and Durations: PostgreSQL and Python cannot hold them."""
    seconds, nanos = value.seconds, value.nanos
    if full_name == "google.protobuf.Timestamp":
        if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos <= 999_999_999):
            yield path, BAD_TIME
    elif abs(seconds) > _MAX_DURATION_SECONDS or abs(nanos) > 999_999_999 or seconds * nanos < 0:
        yield path, BAD_DURATION


def untrusted_values(message: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, what is wrong) for every value no contract allows, at any depth, in lists and maps: a
    string with a NUL character (PostgreSQL refuses it in text), a float that is NaN or infinite (it
    would be stored, and break every comparison made with it later), and a Timestamp or Duration
    outside the range the well-known types document."""
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            for key, item in value.items():
                entry = f"{name}[{key!r}]"
                if isinstance(key, str) and "\x00" in key:
                    yield f"{name} (a key)", NUL
                if hasattr(item, "ListFields"):
                    yield from untrusted_values(item, f"{entry}.")
                else:
                    yield from _scalar(entry, item)
            continue
        items = enumerate(value) if field.is_repeated else [(None, value)]
        for index, item in items:
            path = name if index is None else f"{name}[{index}]"
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                kind = field.message_type.full_name
                if kind in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
                    yield from _well_known(kind, path, item)
                else:
                    yield from untrusted_values(item, f"{path}.")
            elif field.type == FieldDescriptor.TYPE_STRING or field.type in _FLOATS:
                yield from _scalar(path, item)


def _scalar(path: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, str) and "\x00" in value:
        yield path, NUL
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, NOT_FINITE


INVALID_UTF8 = "must be valid UTF-8"


class Undecodable:
    """A request whose bytes are not a valid message of its type (the deserializer's result in place of
    the message, so that the failure reaches the validation step as INVALID_ARGUMENT instead of grpc's
    UNKNOWN). Reading a field gives the empty message's default, for interceptors that look first."""

    def __init__(self, empty: Any, field: str, problem: str) -> None:
        self._empty = empty
        self.field = field
        self.problem = problem

    def __getattr__(self, name: str) -> Any:
        return getattr(self._empty, name)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def invalid_utf8_field(descriptor: Any, data: bytes, prefix: str = "") -> str | None:
    """The path of the first string field whose bytes are not UTF-8, walking the wire format (protobuf's
    own error does not name it); None when every string is valid (the bytes are broken another way)."""
    position = 0
    try:
        while position < len(data):
            key, position = _varint(data, position)
            number, wire = key >> 3, key & 7
            if wire == 0:
                _, position = _varint(data, position)
            elif wire == 1:
                position += 8
            elif wire == 5:
                position += 4
            elif wire == 2:
                length, position = _varint(data, position)
                chunk = data[position : position + length]
                position += length
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                path = f"{prefix}{field.name}"
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return path
                elif field.type == FieldDescriptor.TYPE_MESSAGE:
                    found = invalid_utf8_field(field.message_type, chunk, f"{path}.")
                    if found is not None:
                        return found
            else:
                return None
    except ValueError:
        return None
    return None


def lenient_deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserialize`` that answers bytes it cannot parse with an :class:`Undecodable`."""
    if deserialize is None:
        return None
    message_type = getattr(deserialize, "__self__", None)

    def lenient(data: bytes) -> Any:
        try:
            return deserialize(data)
        except DecodeError as error:
            if message_type is None:
                raise
            descriptor = message_type.DESCRIPTOR
            field = invalid_utf8_field(descriptor, data)
            if field is not None:
                return Undecodable(message_type(), field, INVALID_UTF8)
            return Undecodable(message_type(), "", f"is not a valid {descriptor.full_name} message ({error})")

    return lenient


def _validate(message: Any) -> None:
    if isinstance(message, Undecodable):
        violation = errors.FieldViolation(field=message.field, description=message.problem)
        where = f"{message.field}: " if message.field else "the request "
        raise errors.InvalidArgument(f"invalid request ({where}{message.problem})", [violation])
    untrusted = [
        errors.FieldViolation(field=path, description=problem) for path, problem in untrusted_values(message)
    ]
    if untrusted:
        fields = ", ".join(f"{v.field}: {v.description}" for v in untrusted)
        raise errors.InvalidArgument(f"invalid request ({fields})", untrusted)
    try:
        protovalidate.validate(message)
    except protovalidate.ValidationError as error:
        violations = [
            errors.FieldViolation(field=field_path(violation), description=violation.proto.message)
            for violation in error.violations
        ]
        fields = ", ".join(f"{v.field}: {v.description}" for v in violations)
        raise errors.InvalidArgument(f"invalid request ({fields})", violations) from None


async def _validated_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for message in requests:
        _validate(message)
        yield message


class ValidationInterceptor(_WrappingInterceptor):
    """Applies the protovalidate rules declared in the .proto files to every request message, and turns
    bytes that do not parse (invalid UTF-8 in a string, a truncated message) into INVALID_ARGUMENT: the
    innermost interceptor's handler carries the deserializer the server uses."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_SERVICES):  # type: ignore[arg-type]
            return handler
        return handler._replace(  # type: ignore[attr-defined, no-any-return]
            request_deserializer=lenient_deserializer(handler.request_deserializer)
        )

    async def around(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        if request_streaming:
            return await behavior(_validated_stream(request), context)
        _validate(request)
        return await behavior(request, context)

    async def around_stream(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        if request_streaming:
            request = _validated_stream(request)
        else:
            _validate(request)
        async for response in behavior(request, context):
            yield response


class BrandInterceptor(_WrappingInterceptor):
    """Every call but ``brandless_methods`` (CreateBrand) must come from a brand that exists: a valid
    token for a brand never created (or deleted) is NOT_FOUND, as another brand's ids are. Innermost, so
    that a request that is invalid anyway is refused without asking; a brand found is remembered for
    ``BRAND_CACHE_S``, so the hot path asks nobody."""

    def __init__(self, brand_exists: BrandLookup, brandless_methods: frozenset[str] = frozenset()) -> None:
        self._brand_exists = brand_exists
        self._brandless = brandless_methods
        self._known_brands: dict[str, float] = {}

    async def _require_brand(self, method: str) -> None:
        principal = auth._current_principal.get()
        if principal is None or method.rsplit("/", 1)[-1] in self._brandless:
            return
        brand_id = principal.brand_id
        now = time.monotonic()
        if self._known_brands.get(brand_id, 0.0) > now:
            return
        if not await self._brand_exists(brand_id):
            raise errors.NotFound(f"brand {brand_id!r} not found (create it first)", "brand", brand_id)
        if len(self._known_brands) > 10_000:
            self._known_brands.clear()
        self._known_brands[brand_id] = now + BRAND_CACHE_S

    async def around(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        await self._require_brand(method)
        return await behavior(request, context)

    async def around_stream(self, method, behavior, request, context, request_streaming):  # type: ignore[no-untyped-def]
        await self._require_brand(method)
        async for response in behavior(request, context):
            yield response

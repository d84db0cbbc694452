"""Channels and stub proxies: bearer token, default deadline, retries, one error type."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from likeness.sdk.errors import LikenessError

TokenSource = str | Callable[[], str] | None

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ClientOptions:
    """How a client reaches a service."""

    target: str
    token: TokenSource = None
    timeout_s: float | None = 30.0
    secure: bool = False
    root_certificates: bytes | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_attempts: int = 4


def _service_config(service: str, idempotent_methods: Iterable[str], max_attempts: int) -> str:
    """Retry only idempotent calls, only on UNAVAILABLE (gRPC's built-in retry policy)."""
    names = [{"service": service, "method": method} for method in sorted(idempotent_methods)]
    if not names:
        return json.dumps({})
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": "0.2s",
                        "maxBackoff": "3s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


def channel_options(options: ClientOptions, service: str, idempotent: Iterable[str]) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.max_send_message_length", options.max_message_bytes),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", _service_config(service, idempotent, options.max_attempts)),
        ("grpc.keepalive_time_ms", 60_000),
    ]


def _call_kwargs(options: ClientOptions, kwargs: dict[str, Any], streaming: bool) -> dict[str, Any]:
    """Add the bearer token, and the default deadline to unary calls (streams may run long)."""
    metadata = list(kwargs.get("metadata") or ())
    token = options.token() if callable(options.token) else options.token
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    kwargs["metadata"] = metadata
    if "timeout" not in kwargs and not streaming:
        kwargs["timeout"] = options.timeout_s
    return kwargs


def _credentials(options: ClientOptions) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=options.root_certificates)


def open_async_channel(options: ClientOptions, service: str, idempotent: Iterable[str]) -> aio.Channel:
    channel_opts = channel_options(options, service, idempotent)
    if options.secure:
        return aio.secure_channel(options.target, _credentials(options), options=channel_opts)
    return aio.insecure_channel(options.target, options=channel_opts)


def open_channel(options: ClientOptions, service: str, idempotent: Iterable[str]) -> grpc.Channel:
    channel_opts = channel_options(options, service, idempotent)
    if options.secure:
        return grpc.secure_channel(options.target, _credentials(options), options=channel_opts)
    return grpc.insecure_channel(options.target, options=channel_opts)


class _Proxy:
    def __init__(self, stub: Any, options: ClientOptions) -> None:
        self._stub = stub
        self._options = options


class AsyncStubProxy(_Proxy):
    """Wraps a generated async stub: adds token and deadline, raises ``LikenessError``.

    Unary responses are awaited; streaming responses come back as async iterators.
    """

    def __getattr__(self, name: str) -> Callable[..., Any]:
        multicallable = getattr(self._stub, name)
        options = self._options

        if isinstance(multicallable, (aio.UnaryStreamMultiCallable, aio.StreamStreamMultiCallable)):

            async def stream(request: Any, **kwargs: Any) -> AsyncIterator[Any]:
                call = multicallable(request, **_call_kwargs(options, kwargs, True))
                try:
                    async for response in call:
                        yield response
                except aio.AioRpcError as error:
                    raise LikenessError.from_call(error) from None
                finally:
                    call.cancel()

            return stream

        async def unary(request: Any, **kwargs: Any) -> Any:
            call = multicallable(request, **_call_kwargs(options, kwargs, False))
            try:
                return await call
            except aio.AioRpcError as error:
                raise LikenessError.from_call(error) from None

        return unary


class StubProxy(_Proxy):
    """Blocking counterpart of ``AsyncStubProxy``."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        multicallable = getattr(self._stub, name)
        options = self._options

        if isinstance(multicallable, (grpc.UnaryStreamMultiCallable, grpc.StreamStreamMultiCallable)):

            def stream(request: Any, **kwargs: Any) -> Iterator[Any]:
                responses = multicallable(request, **_call_kwargs(options, kwargs, True))
                try:
                    yield from responses
                except grpc.RpcError as error:
                    raise LikenessError.from_call(error) from None
                finally:
                    responses.cancel()

            return stream

        def unary(request: Any, **kwargs: Any) -> Any:
            try:
                return multicallable(request, **_call_kwargs(options, kwargs, False))
            except grpc.RpcError as error:
                raise LikenessError.from_call(error) from None

        return unary

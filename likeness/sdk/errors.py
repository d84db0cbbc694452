"""The one error type the SDK raises."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import message as protobuf_message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

_DETAIL_TYPES: tuple[type[protobuf_message.Message], ...] = (
    error_details_pb2.BadRequest,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.QuotaFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.ErrorInfo,
    error_details_pb2.RetryInfo,
)


class LikenessError(Exception):
    """A failed call: the gRPC status code, the server's message, and parsed ``google.rpc`` details."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        details: list[protobuf_message.Message] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = details or []
        self.request_id = request_id

    def detail(self, detail_type: type[Any]) -> Any | None:
        """The first detail of ``detail_type`` (e.g. ``BadRequest``), or None."""
        for detail in self.details:
            if isinstance(detail, detail_type):
                return detail
        return None

    @classmethod
    def from_call(cls, call: grpc.Call | Any) -> LikenessError:
        code = call.code()
        message = call.details() or ""
        details: list[protobuf_message.Message] = []
        try:
            status = rpc_status.from_call(call)
        except ValueError:
            status = None
        if status is not None:
            for packed in status.details:
                for detail_type in _DETAIL_TYPES:
                    if packed.Is(detail_type.DESCRIPTOR):
                        detail = detail_type()
                        packed.Unpack(detail)
                        details.append(detail)
        request_id = None
        for key, value in tuple(call.initial_metadata() or ()) + tuple(call.trailing_metadata() or ()):
            if key == "x-request-id":
                request_id = value
        return cls(code, message, details, request_id)

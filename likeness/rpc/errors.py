"""The one mapping from domain errors to gRPC status codes with ``google.rpc`` details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from likeness import errors

_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def status_code_for(error: errors.DomainError) -> grpc.StatusCode:
    for error_type in type(error).__mro__:
        if error_type in _CODES:
            return _CODES[error_type]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


#: A status travels in trailing metadata, which clients cap (gRPC's default: 16 KiB of headers). A
#: request with a thousand bad items must still get its own status, so details are kept that small:
#: the first violations in full, then one that counts the rest; text cut to a length a person reads.
MAX_VIOLATIONS = 20
MAX_TEXT = 300
MAX_MESSAGE = 1000


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _detail(error: errors.DomainError) -> any_pb2.Any | None:
    detail = any_pb2.Any()
    if isinstance(error, errors.InvalidArgument) and error.violations:
        shown = error.violations[:MAX_VIOLATIONS]
        field_violations = [
            error_details_pb2.BadRequest.FieldViolation(
                field=_cut(violation.field), description=_cut(violation.description)
            )
            for violation in shown
        ]
        if len(error.violations) > len(shown):
            field_violations.append(
                error_details_pb2.BadRequest.FieldViolation(
                    field="", description=f"and {len(error.violations) - len(shown)} more violations"
                )
            )
        detail.Pack(error_details_pb2.BadRequest(field_violations=field_violations))
    elif isinstance(error, errors.FailedPrecondition) and error.violations:
        detail.Pack(
            error_details_pb2.PreconditionFailure(
                violations=[
                    error_details_pb2.PreconditionFailure.Violation(
                        type=_cut(violation.type),
                        subject=_cut(violation.subject),
                        description=_cut(violation.description),
                    )
                    for violation in error.violations[:MAX_VIOLATIONS]
                ]
            )
        )
    elif isinstance(error, errors.ResourceExhausted) and error.violations:
        detail.Pack(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=violation.subject, description=violation.description
                    )
                    for violation in error.violations
                ]
            )
        )
    elif isinstance(error, (errors.NotFound, errors.AlreadyExists)) and error.resource_type:
        detail.Pack(
            error_details_pb2.ResourceInfo(resource_type=error.resource_type, resource_name=error.resource_id)
        )
    else:
        return None
    return detail


def to_grpc_status(error: errors.DomainError) -> grpc.Status:
    """A ``grpc.Status`` whose trailing metadata carries the ``google.rpc.Status`` details."""
    code = status_code_for(error)
    status = status_pb2.Status(code=code.value[0], message=_cut(error.message, MAX_MESSAGE))
    detail = _detail(error)
    if detail is not None:
        status.details.append(detail)
    return rpc_status.to_status(status)  # type: ignore[no-any-return]


def internal_status(request_id: str) -> grpc.Status:
    """What a caller sees for a bug or a library failure: no internals, a request id to report."""
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error; report request id {request_id}",
    )
    return rpc_status.to_status(status)  # type: ignore[no-any-return]

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from likeness import errors
from likeness.rpc.errors import internal_status, to_grpc_status


def _status(error: errors.DomainError) -> tuple[grpc.StatusCode, status_pb2.Status]:
    status = to_grpc_status(error)
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    return status.code, status_pb2.Status.FromString(value)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InvalidArgument("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("gone"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("dup"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition("no consent"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Aborted("etag"), grpc.StatusCode.ABORTED),
        (errors.ResourceExhausted("full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Unauthenticated("who"), grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unavailable("down"), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_each_domain_error_has_one_status_code(error, code):
    mapped_code, status = _status(error)
    assert mapped_code == code
    assert status.code == code.value[0]
    assert status.message == error.message


def test_invalid_argument_carries_bad_request_field_violations():
    _, status = _status(errors.InvalidArgument("bad", [errors.FieldViolation("photos", "at most 5")]))
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert [(v.field, v.description) for v in detail.field_violations] == [("photos", "at most 5")]


def test_failed_precondition_carries_precondition_failure():
    error = errors.FailedPrecondition(
        "consent expired", [errors.PreconditionViolation("CONSENT", "character/c1", "expired 2026-01-01")]
    )
    _, status = _status(error)
    detail = error_details_pb2.PreconditionFailure()
    assert status.details[0].Unpack(detail)
    assert detail.violations[0].type == "CONSENT"
    assert detail.violations[0].subject == "character/c1"


def test_resource_exhausted_carries_quota_failure():
    _, status = _status(errors.ResourceExhausted("queue full", [errors.QuotaViolation("queue", "64 jobs")]))
    detail = error_details_pb2.QuotaFailure()
    assert status.details[0].Unpack(detail)
    assert detail.violations[0].subject == "queue"


def test_internal_errors_reveal_only_a_request_id():
    status = internal_status("req-123")
    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error; report request id req-123"

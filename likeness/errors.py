"""Domain errors shared by every service.

Domain code raises these; the servicer edge (``likeness.rpc.errors``) maps each to one gRPC status
code with ``google.rpc`` details. Nothing here imports gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: where, and what a caller should change."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """One unmet precondition, e.g. type ``CONSENT``, subject ``character/<id>``."""

    type: str
    subject: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    """One exceeded limit (size cap, queue bound, rate)."""

    subject: str
    description: str


@dataclass
class DomainError(Exception):
    """Base of every error a caller may see; ``message`` is shown to the caller as is."""

    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class InvalidArgument(DomainError):
    """The request itself is wrong; ``violations`` names the fields."""

    violations: list[FieldViolation] = field(default_factory=list)


@dataclass
class NotFound(DomainError):
    """No such resource for this brand — also what another brand's ids look like."""

    resource_type: str = ""
    resource_id: str = ""


@dataclass
class AlreadyExists(DomainError):
    """A resource with this identity exists already."""

    resource_type: str = ""
    resource_id: str = ""


@dataclass
class FailedPrecondition(DomainError):
    """The system is not in a state that allows this call (consent missing, job finished…)."""

    violations: list[PreconditionViolation] = field(default_factory=list)


@dataclass
class Aborted(DomainError):
    """A concurrent change won (etag mismatch, serialisation failure); retry with fresh state."""


@dataclass
class ResourceExhausted(DomainError):
    """A size cap, quota or queue bound was hit."""

    violations: list[QuotaViolation] = field(default_factory=list)


@dataclass
class Unauthenticated(DomainError):
    """No valid credentials."""


@dataclass
class PermissionDenied(DomainError):
    """Valid credentials whose roles do not allow this call."""


@dataclass
class Unavailable(DomainError):
    """A dependency is down or the service is draining; safe to retry idempotent calls."""

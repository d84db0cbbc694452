"""Embeddings as PostgreSQL ``vector`` values: checks and L2 normalisation.

Embeddings travel to PostgreSQL as binary ``float8[]`` parameters that the SQL casts to ``vector``
(``%(z_id)b::float8[]::vector``), and come back as ``float4[]`` (``z_id::float4[]``): no text form of
512 numbers is written or parsed on either side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from likeness.errors import FieldViolation, InvalidArgument

DIMENSIONS = 512
NORM_TOLERANCE = 1e-3


def normalised(values: Sequence[float], field: str = "z_id") -> list[float]:
    """``values`` L2-normalised; INVALID_ARGUMENT unless it has 512 finite values with norm 1 ± 0.001."""
    if len(values) != DIMENSIONS:
        raise InvalidArgument(
            f"{field} must have {DIMENSIONS} values, got {len(values)}",
            [FieldViolation(field, f"exactly {DIMENSIONS} values")],
        )
    if not all(math.isfinite(value) for value in values):
        raise InvalidArgument(f"{field} must hold finite values", [FieldViolation(field, "NaN or infinity")])
    norm = math.sqrt(math.fsum(value * value for value in values))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise InvalidArgument(
            f"{field} must be L2-normalised (norm {norm:.6f}, expected 1 ± {NORM_TOLERANCE})",
            [FieldViolation(field, "L2 norm must be within 0.001 of 1")],
        )
    return [value / norm for value in values]

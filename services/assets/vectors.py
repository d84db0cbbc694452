"""Embeddings as PostgreSQL ``vector`` values: checks, L2 normalisation, and the wire form.

An embedding is a float32 numpy array. It travels to PostgreSQL as a binary ``float4[]`` parameter
(:class:`EmbeddingDumper`, registered on every pooled connection by :func:`connection_setup`) that
the SQL casts to ``vector`` (``%(z_id)b::float4[]::vector``), and comes back as ``float4[]``
(``z_id::float4[]``): no text form of 512 numbers is written or parsed, and no Python float is made
per value on the way in.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from psycopg import AsyncConnection
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.postgres import types as postgres_types
from psycopg.pq import Format

from likeness.errors import FieldViolation, InvalidArgument

DIMENSIONS = 512
NORM_TOLERANCE = 1e-3

Embedding = NDArray[np.float32]

_FLOAT4 = postgres_types["float4"]
# A one-dimensional array with no NULLs: ndim, has-NULL flag, element type, then length and lower bound.
_ARRAY_HEADER = struct.Struct(">iiIii")
# Each value: its byte length (always 4), then the big-endian float.
_CELL = np.dtype([("length", ">i4"), ("value", ">f4")])


def normalised(values: Sequence[float] | NDArray[Any], field: str = "z_id") -> Embedding:
    """``values`` L2-normalised; INVALID_ARGUMENT unless it has 512 finite values with norm 1 ± 0.001."""
    if len(values) != DIMENSIONS:
        raise InvalidArgument(
            f"{field} must have {DIMENSIONS} values, got {len(values)}",
            [FieldViolation(field, f"exactly {DIMENSIONS} values")],
        )
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise InvalidArgument(f"{field} must hold finite values", [FieldViolation(field, "NaN or infinity")])
    norm = float(np.sqrt(np.dot(array, array)))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise InvalidArgument(
            f"{field} must be L2-normalised (norm {norm:.6f}, expected 1 ± {NORM_TOLERANCE})",
            [FieldViolation(field, "L2 norm must be within 0.001 of 1")],
        )
    return (array / norm).astype(np.float32)


class EmbeddingDumper(Dumper):
    """A one-dimensional numpy array as a binary ``float4[]`` parameter."""

    format = Format.BINARY
    oid = _FLOAT4.array_oid

    def dump(self, obj: NDArray[Any]) -> bytes:
        values = np.asarray(obj).reshape(-1)
        cells = np.empty(values.shape[0], dtype=_CELL)
        cells["length"] = _CELL["value"].itemsize
        cells["value"] = values
        return _ARRAY_HEADER.pack(1, 0, _FLOAT4.oid, values.shape[0], 1) + cells.tobytes()


def register(adapters: AdaptersMap) -> None:
    adapters.register_dumper(np.ndarray, EmbeddingDumper)


def connection_setup(
    queries: dict[str, str], search_ef: int
) -> Callable[[AsyncConnection[Any]], Awaitable[None]]:
    """The pool's set-up of each new connection: embeddings dump as binary ``float4[]``, and HNSW scans
    use ``search_ef`` and iterate past filtered-out rows (session settings, so no search spends
    statements on them)."""

    async def configure(connection: AsyncConnection[Any]) -> None:
        register(connection.adapters)
        await connection.execute(queries["configure_vector_search"], {"ef": str(search_ef)})
        await connection.commit()

    return configure

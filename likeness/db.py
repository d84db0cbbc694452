"""PostgreSQL access shared by the services that own tables: pool, migrations, named queries."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import BaseRowFactory, class_row
from psycopg_pool import AsyncConnectionPool

from likeness.rpc.settings import DatabaseSettings

logger = logging.getLogger("likeness.db")

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_QUERY_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.M)


class _IdleCheck:
    """Check a pooled connection before use only when it has been idle for a while.

    A connection returned moments ago is alive for all practical purposes, and checking it would add a
    round trip to every call; one idle longer than ``idle_s`` may have been dropped by the server or
    the network and gets a ``SELECT 1`` first (a dead one is discarded and replaced by the pool).
    """

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._returned: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()

    async def reset(self, connection: AsyncConnection) -> None:
        self._returned[connection] = time.monotonic()

    async def check(self, connection: AsyncConnection) -> None:
        returned = self._returned.get(connection)
        if returned is None or time.monotonic() - returned > self.idle_s:
            await AsyncConnectionPool.check_connection(connection)


async def open_pool(
    settings: DatabaseSettings,
    configure: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> AsyncConnectionPool:
    """Open a pool whose connections see the service's schema first; fails if none can connect.
    ``configure`` runs on each new connection (adapters, say) before the pool lends it."""
    if not settings.database_url:
        raise ValueError(f"no database URL configured for schema {settings.database_schema!r}")
    idle_check = _IdleCheck(settings.pool_check_idle_s)
    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        open=False,
        check=idle_check.check,
        reset=idle_check.reset,
        configure=configure,
        kwargs={"options": f"-c search_path={settings.database_schema},public"},
        name=settings.database_schema,
    )
    await pool.open(wait=True, timeout=settings.database_connect_timeout_s)
    return pool


@asynccontextmanager
async def single_statement_connection(pool: AsyncConnectionPool) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode, for a change that is one statement: the statement is
    its own transaction, one round trip with no BEGIN or COMMIT. The pool gets it back as it lent it."""
    async with pool.connection() as connection:
        await connection.set_autocommit(True)
        try:
            yield connection
        finally:
            if not connection.closed:
                await connection.set_autocommit(False)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str) -> list[Migration]:
    """Migrations are ``NNNN_name.sql`` files in ``package``'s ``migrations`` folder, in order."""
    folder = resources.files(package).joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text()))
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{package}: two migrations share a version number")
    return migrations


def _lock_key(schema: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; derive a stable one per schema.
    return int.from_bytes(
        hashlib.sha256(f"likeness-migrations:{schema}".encode()).digest()[:8], "big", signed=True
    )


async def apply_migrations(
    connection: AsyncConnection, schema: str, migrations: list[Migration]
) -> list[int]:
    """Apply pending migrations in one transaction under an advisory lock; returns versions applied.

    Two replicas starting together serialise on the lock; the second finds nothing left to do.
    A migration whose text changed after it was applied is refused rather than silently skipped.
    """
    applied_now: list[int] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor = await connection.execute(f'SELECT version, checksum FROM "{schema}".schema_migrations')
        done = {version: checksum for version, checksum in await cursor.fetchall()}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was applied"
                    )
                continue
            await connection.execute(f'SET LOCAL search_path TO "{schema}", public')
            await connection.execute(migration.sql.encode())
            await connection.execute(
                f'INSERT INTO "{schema}".schema_migrations (version, name, checksum) VALUES (%s, %s, %s)',
                (migration.version, migration.name, migration.checksum),
            )
            applied_now.append(migration.version)
    if applied_now:
        logger.info("migrations applied", extra={"schema": schema, "versions": applied_now})
    return applied_now


def service_role(database_url: str) -> str:
    """The role a libpq URI logs in as."""
    role = conninfo_to_dict(database_url).get("user")
    if not role:
        raise ValueError("the service's database URL must name its role (user)")
    return str(role)


async def grant_service_role(
    connection: AsyncConnection, schema: str, role: str, *, append_only: Sequence[str] = ()
) -> None:
    """What a service's own role may do in its schema: read and write rows, call the schema's functions,
    and nothing more. It owns nothing, so it can neither alter a table nor disable a trigger; on the
    ``append_only`` tables it may only read and insert; the migration ledger it may only read. Run by
    the schema's owner after migrating (the grants cover tables that migration created)."""
    owner = await (await connection.execute("SELECT current_user")).fetchone()
    if owner is not None and owner[0] == role:
        raise ValueError(f"the service's role {role!r} must not be the role that owns the schema")
    target = sql.SQL("{schema} TO {role}").format(schema=sql.Identifier(schema), role=sql.Identifier(role))
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {target}"),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {target}"),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {target}"),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {target}"),
    ]
    async with connection.transaction():
        for statement in statements:
            await connection.execute(statement.format(target=target))
        for table, denied in [("schema_migrations", "INSERT, UPDATE, DELETE"),
                              *((name, "UPDATE, DELETE") for name in append_only)]:  # fmt: skip
            await connection.execute(
                sql.SQL("REVOKE {denied} ON {table} FROM {role}").format(
                    denied=sql.SQL(denied), table=sql.Identifier(schema, table), role=sql.Identifier(role)
                )
            )


async def migrate(settings: DatabaseSettings, package: str, *, append_only: Sequence[str] = ()) -> list[int]:
    """Bring the service's schema up to date. With ``migration_database_url`` set, migrations run as that
    (owner) role, which then grants the service's own role (``database_url``'s) only what it uses; without
    it, both are the one role of ``database_url``."""
    owner_url = settings.migration_database_url.get_secret_value() or settings.database_url
    async with await AsyncConnection.connect(owner_url) as connection:
        applied = await apply_migrations(connection, settings.database_schema, load_migrations(package))
        if settings.migration_database_url.get_secret_value():
            await grant_service_role(
                connection, settings.database_schema, service_role(settings.database_url),
                append_only=append_only,
            )  # fmt: skip
    return applied


def load_queries(package: str, filename: str = "queries.sql") -> dict[str, str]:
    """Named queries: each begins with a ``-- name: <identifier>`` line."""
    text = resources.files(package).joinpath(filename).read_text()
    parts = _QUERY_HEADER.split(text)
    queries = {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
    if not queries:
        raise ValueError(f"{package}/{filename} holds no named queries")
    return queries


T = TypeVar("T")


async def fetch_one(
    connection: AsyncConnection[Any],
    row: type[T] | BaseRowFactory[T],
    query: str,
    params: Mapping[str, Any],
    missing: Exception,
    *,
    lock: bool = False,
) -> T:
    """The one row ``query`` finds, as ``row`` (a dataclass, or a psycopg row factory); ``missing`` when
    there is none (the same answer for an unknown id and another brand's). ``lock``: the row is also
    locked until the transaction ends."""
    factory: BaseRowFactory[T] = class_row(row) if isinstance(row, type) else row
    cursor = connection.cursor(row_factory=factory)
    if lock:
        query = f"{query.rstrip().removesuffix(';')} FOR UPDATE"
    await cursor.execute(query, params)
    found = await cursor.fetchone()
    if found is None:
        raise missing
    return found

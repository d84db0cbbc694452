"""The services' PostgreSQL pool: connections idle for a while are checked before use."""

from __future__ import annotations

import asyncio

import psycopg

from likeness.db import open_pool
from likeness.rpc.settings import DatabaseSettings


def _settings(database_url: str, idle_s: float) -> DatabaseSettings:
    return DatabaseSettings(
        database_url=database_url,
        database_schema="public",
        pool_min_size=1,
        pool_max_size=1,
        pool_check_idle_s=idle_s,
    )


async def _backend_pid(pool) -> int:  # type: ignore[no-untyped-def]
    async with pool.connection() as connection:
        row = await (await connection.execute("SELECT pg_backend_pid()")).fetchone()
    return int(row[0])


async def _terminate(database_url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_a_connection_dropped_while_idle_is_replaced_before_use(database_url: str) -> None:
    pool = await open_pool(_settings(database_url, idle_s=0.2))
    try:
        first = await _backend_pid(pool)
        await _terminate(database_url, first)
        # Not a wait on the system: the connection must have been idle longer than idle_s, so that the
        # next checkout checks it, finds it dead and replaces it.
        await asyncio.sleep(0.4)
        second = await _backend_pid(pool)
        assert second != first
    finally:
        await pool.close()


async def test_a_busy_connection_is_handed_out_without_a_check(database_url: str) -> None:
    pool = await open_pool(_settings(database_url, idle_s=60))
    try:
        first = await _backend_pid(pool)
        await _terminate(database_url, first)
        # Returned moments ago, so it is not checked: the dead connection surfaces as an error once, and
        # the pool discards it.
        try:
            await _backend_pid(pool)
        except psycopg.OperationalError:
            pass
        else:
            raise AssertionError("a connection returned moments ago was checked before use")
        assert await _backend_pid(pool) != first
    finally:
        await pool.close()

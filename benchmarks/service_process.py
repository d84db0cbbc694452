"""A Likeness service in a child process, for the benchmarks: as deployed, its event loop and its
core are not the benchmark client's."""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
from collections import defaultdict
from typing import Any

from likeness.rpc.server import RpcServer


class _HandlerTimes(logging.Handler):
    """Collects each call's time in the service's handler chain from its "rpc finished" log record
    (interceptors and handler: what the service adds to the transport's own time)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_method: dict[str, list[float]] = defaultdict(list)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "rpc finished":
            self.by_method[getattr(record, "method", "?")].append(float(getattr(record, "duration_ms", 0.0)))


def _serve(service: str, settings: dict[str, Any], ports: Any, stop: Any, times: Any) -> None:
    """Run ``service`` ("assets", "generator" or "identity") in this process until ``stop`` is set."""
    handler_times = _HandlerTimes()
    if times is not None:
        rpc_logger = logging.getLogger("likeness.rpc")
        rpc_logger.addHandler(handler_times)
        rpc_logger.setLevel(logging.INFO)

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
    if times is not None:
        times.put(dict(handler_times.by_method))


class ServiceProcess:
    """One service with ``settings`` (its settings class's keyword arguments) in a child process.

    With ``handler_times``, ``stop()`` returns every call's time in the service's handler chain in ms,
    by method (from the request log, which then runs at INFO in that process)."""

    def __init__(self, service: str, settings: dict[str, Any], handler_times: bool = False) -> None:
        context = multiprocessing.get_context("spawn")
        self._ports = context.Queue()
        self._stop = context.Event()
        self._times = context.Queue() if handler_times else None
        self._process = context.Process(
            target=_serve, args=(service, settings, self._ports, self._stop, self._times), daemon=True
        )

    def start(self) -> int:
        """Start it; returns its port once it serves."""
        self._process.start()
        return int(self._ports.get(timeout=300))

    def stop(self) -> dict[str, list[float]]:
        self._stop.set()
        times: dict[str, list[float]] = {}
        if self._times is not None:
            times = self._times.get(timeout=60)
        self._process.join(timeout=60)
        if self._process.is_alive():
            self._process.kill()
        return times

"""``likeness up``: the three services on embedded defaults, supervised from one terminal."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from likeness.local import LocalSettings, jwt_keys_json, local_signing_key
from likeness.sdk import AssetsClient, GeneratorClient, IdentityClient

SERVICES = ("identity", "assets", "generator")
SERVICE_NAMES = {
    "identity": IdentityClient.service,
    "assets": AssetsClient.service,
    "generator": GeneratorClient.service,
}
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 40.0


def service_environment(
    settings: LocalSettings, database_url: str, owner_database_url: str = ""
) -> dict[str, str]:
    """Each service's settings for local use; anything already in the environment wins. With
    ``owner_database_url`` the services connect as ``database_url``'s role and migrate as the owner."""
    signing_key = local_signing_key(settings)
    keys = jwt_keys_json(signing_key)
    # Page tokens stay good across a restarted service: one secret for the stack, from its local key.
    page_secret = hashlib.sha256(f"page tokens {signing_key.signing_key()}".encode()).hexdigest()
    # Audit checkpoints are signed with a key only the local state directory holds, never the database.
    checkpoint_key = hashlib.sha256(f"audit checkpoints {signing_key.signing_key()}".encode()).hexdigest()
    ports = {
        "identity": settings.identity_port,
        "assets": settings.assets_port,
        "generator": settings.generator_port,
    }
    values: dict[str, str] = {}
    for name in SERVICES:
        prefix = f"LIKENESS_{name.upper()}_"
        values[prefix + "HOST"] = settings.host
        values[prefix + "PORT"] = str(ports[name])
        values[prefix + "JWT_KEYS"] = keys
        values[prefix + "PAGE_TOKEN_SECRET"] = page_secret
    assets_address = f"{settings.host}:{settings.assets_port}"
    values["LIKENESS_IDENTITY_ASSETS_ADDRESS"] = assets_address
    values["LIKENESS_ASSETS_DATABASE_URL"] = database_url
    values["LIKENESS_ASSETS_AUDIT_CHECKPOINT_KEY"] = checkpoint_key
    if settings.s3_endpoint:
        values["LIKENESS_ASSETS_S3_ENDPOINT"] = settings.s3_endpoint
        values["LIKENESS_ASSETS_S3_ACCESS_KEY"] = settings.s3_access_key or ""
        values["LIKENESS_ASSETS_S3_SECRET_KEY"] = settings.s3_secret_key or ""
        values["LIKENESS_ASSETS_S3_BUCKET"] = settings.s3_bucket
        values["LIKENESS_ASSETS_S3_SECURE"] = "true" if settings.s3_secure else "false"
        if settings.s3_region:
            values["LIKENESS_ASSETS_S3_REGION"] = settings.s3_region
    else:
        values["LIKENESS_ASSETS_OBJECT_STORE_DIR"] = str(settings.objects_dir)
    values["LIKENESS_GENERATOR_DATABASE_URL"] = database_url
    if owner_database_url:
        values["LIKENESS_ASSETS_MIGRATION_DATABASE_URL"] = owner_database_url
        values["LIKENESS_GENERATOR_MIGRATION_DATABASE_URL"] = owner_database_url
    values["LIKENESS_GENERATOR_ASSETS_ADDRESS"] = assets_address
    values["LIKENESS_GENERATOR_IDENTITY_ADDRESS"] = f"{settings.host}:{settings.identity_port}"
    values["LIKENESS_GENERATOR_C2PA_DEV_DIR"] = str(settings.state_dir / "c2pa")
    environment = dict(values)
    environment.update({key: value for key, value in os.environ.items()})
    return environment


def _serving(address: str, service: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class _Stop:
    requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def run_up(settings: LocalSettings, console: Console) -> int:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    embedded = None
    owner_database_url = ""
    if settings.database_url:
        database_url = settings.database_url
        console.print("database: [bold]LIKENESS_DATABASE_URL[/bold]")
    else:
        from likeness.embedded.postgres import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.postgres_dir)
        console.print(f"database: embedded PostgreSQL + pgvector in {settings.postgres_dir}")
        owner_database_url = embedded.start()
        database_url = embedded.service_role_uri(owner_database_url)
    store = settings.s3_endpoint or str(settings.objects_dir)
    console.print(f"objects:  {'S3 ' if settings.s3_endpoint else 'local directory '}{store}")

    environment = service_environment(settings, database_url, owner_database_url)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: log_dir / f"{name}.log" for name in SERVICES}

    def start(name: str) -> subprocess.Popen[bytes]:
        # Each service leads its own process group, so that it and everything it starts (the
        # generator's local Ray) stop together.
        with logs[name].open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "likeness.cli.main", "serve", name],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    try:
        for name in SERVICES:
            processes[name] = start(name)
        addresses = {
            name: f"{settings.host}:{environment[f'LIKENESS_{name.upper()}_PORT']}" for name in SERVICES
        }
        pending = set(SERVICES)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while pending and not stop.requested:
            for name in sorted(pending):
                if processes[name].poll() is not None:
                    console.print(
                        f"[red]{name} exited during start-up[/red]; last log lines:\n"
                        + escape(_tail(logs[name]))
                    )
                    return 1
                if _serving(addresses[name], SERVICE_NAMES[name]):
                    pending.discard(name)
            if time.monotonic() > deadline:
                console.print(
                    f"[red]not ready after {READY_TIMEOUT_S:.0f}s:[/red] {', '.join(sorted(pending))}"
                )
                return 1
            time.sleep(0.2)
        if stop.requested:
            return 0

        table = Table(title="Likeness is up")
        table.add_column("service")
        table.add_column("address")
        table.add_column("log")
        for name in SERVICES:
            table.add_row(name, addresses[name], str(logs[name]))
        console.print(table)
        console.print("token: [bold]likeness token mint --brand <brand>[/bold]    stop: Ctrl-C")
        print("ready", flush=True)

        restarts = {name: _Restarts() for name in SERVICES}
        while not stop.requested:
            now = time.monotonic()
            for name, process in processes.items():
                restart = restarts[name]
                if restart.due is not None:
                    if now >= restart.due:
                        restart.due = None
                        processes[name] = start(name)
                        restart.started = now
                    continue
                code = process.poll()
                if code is None:
                    continue
                # What was left of it (the generator's Ray) goes too, before a new one starts.
                _stop_group(process)
                delay = restart.next_delay(now)
                console.print(
                    f"[yellow]{name} stopped unexpectedly (exit code {code}); restarting it in "
                    f"{delay:g} s (restart {restart.count})[/yellow]; the other services keep serving. "
                    f"Last log lines:\n" + escape(_tail(logs[name], 5))
                )
                restart.due = now + delay
            time.sleep(0.2)
        console.print("stopping…")
        return 0
    finally:
        _stop_processes(processes)
        if embedded is not None:
            embedded.stop()


class _Restarts:
    """A service's restarts: the delay doubles from 1 s to 30 s, and starts again at 1 s once the
    service has stayed up for a minute."""

    def __init__(self) -> None:
        self.count = 0
        self.delay = 0.0
        self.started = 0.0
        self.due: float | None = None

    def next_delay(self, now: float) -> float:
        if now - self.started > 60.0:
            self.delay = 0.0
        self.delay = min(30.0, max(1.0, self.delay * 2))
        self.count += 1
        return self.delay


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """What is left of a service's process group after the service itself exited."""
    _signal_group(process, signal.SIGKILL)


def _stop_processes(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Each service's whole process group: SIGTERM (the service stops what it started), then SIGKILL
    for whatever is left after the grace period, so that nothing `likeness up` started outlives it."""
    for process in processes.values():
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for process in processes.values():
        _signal_group(process, signal.SIGKILL)

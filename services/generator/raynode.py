"""A Ray node of the model's cluster, run beside the generator so that it can drive Serve.

Serve's streaming ``DeploymentHandle`` calls need a driver attached to a node of the model's Ray
cluster. Ray Client (``ray://``) refuses them: "Streaming DeploymentHandles are not currently supported
when connected to a remote Ray cluster using Ray Client" (ray-project/ray#43357, closed as won't fix).
Where the generator's host runs no node of that cluster (its own Kubernetes pod), it starts one: no
CPUs and no GPUs, so the cluster schedules nothing on it, and a bounded object store for the frames
that replicas stream back. The driver then attaches to this node, found by its temp dir, and not to
another node that may share the host's address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("likeness.generator.raynode")


TEMP_PREFIX = "ray-gen-"


def remove_stale_temp_dirs(min_age_s: float = 10.0) -> list[Path]:
    """Remove the session directories of nodes that died without their supervisor cleaning up (killed
    with it, say): no process names them any more. In a pod, /tmp outlives a container's restarts.
    A directory younger than ``min_age_s`` is left alone: another generator on this host may have just
    made it and not yet started its node."""
    import psutil  # type: ignore[import-untyped]  # a dependency of Ray

    in_use: set[str] = set()
    for process in psutil.process_iter(["cmdline"]):
        for argument in process.info["cmdline"] or ():
            if argument.startswith("--temp-dir="):
                in_use.add(argument.removeprefix("--temp-dir="))
    removed = []
    for directory in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        if (
            directory.is_dir()
            and str(directory) not in in_use
            and time.time() - directory.stat().st_mtime > min_age_s
        ):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    if removed:
        logger.info("removed the session directories of dead Ray nodes", extra={"removed": len(removed)})
    return removed


@dataclass
class JoinedRayNode:
    """``ray start --block`` for a node without resources, in its own process group, led by a
    ``supervise`` process that stops the node if the process that started it dies."""

    process: subprocess.Popen[bytes]
    temp_dir: Path

    @classmethod
    def start(cls, address: str, node_ip: str, object_store_bytes: int) -> JoinedRayNode:
        remove_stale_temp_dirs()
        # A short path: Ray's unix sockets live under it, and a socket path is at most 107 bytes.
        temp_dir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        command = [
            sys.executable,
            "-m",
            "ray.scripts.scripts",
            "start",
            f"--address={address}",
            "--num-cpus=0",
            "--num-gpus=0",
            f"--object-store-memory={object_store_bytes}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
            "--block",
        ]
        if node_ip:
            command.append(f"--node-ip-address={node_ip}")
        # Its own process group: a Ctrl-C meant for the generator must not take the node away while
        # the generator drains, and stop() signals the node's processes together. The group's leader
        # watches this process and takes the node down if it dies without stopping it.
        supervised = [sys.executable, "-m", __name__, str(os.getpid()), str(temp_dir), *command]
        process = subprocess.Popen(supervised, start_new_session=True)
        logger.info(
            "starting a Ray node of the model's cluster",
            extra={"ray_address": address, "node_ip": node_ip or "(Ray's choice)", "pid": process.pid},
        )
        return cls(process, temp_dir)

    def wait_started(self, timeout_s: float = 120.0, poll_s: float = 0.1) -> str | None:
        """Wait until the node's raylet is up (its socket exists) or the node process has ended; returns
        why it ended, or None. ``ray start`` checks the cluster's address and token before it starts
        anything, so a wrong address or a missing or wrong token (InvalidAuthToken in its output) ends
        it within seconds, and the caller need not sit out Ray's own minute-long connect timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            reason = self.failure()
            if reason is not None or any(self.temp_dir.glob("session_*/sockets/raylet")):
                return reason
            time.sleep(poll_s)
        return None

    def failure(self) -> str | None:
        """Why the node is gone, if it is."""
        code = self.process.poll()
        if code is None:
            return None
        return f"the Ray node process exited with status {code} (its log is in the generator's output)"

    def stop(self, grace_s: float = 20.0) -> None:
        """Stop the node's processes (SIGTERM to its group, then SIGKILL after ``grace_s``)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                logger.warning("the Ray node did not stop within %.0f s; killing it", grace_s)
        # Whatever the node started and left behind shares its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def supervise(
    parent: int, temp_dir: Path, command: list[str], grace_s: float = 20.0, poll_s: float = 0.5
) -> int:
    """Run ``command`` (the node) in this process group until it ends by itself, this process is told
    to stop (SIGTERM), or ``parent`` is gone; in the last two cases stop the whole group (SIGTERM,
    then after ``grace_s`` SIGKILL to whatever is left, this process included) and remove the node's
    ``temp_dir``."""
    stopping = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    node = subprocess.Popen(command)
    while node.poll() is None and not stopping and os.getppid() == parent:
        time.sleep(poll_s)
    if node.poll() is None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(0, signal.SIGTERM)  # ray start, its raylet and agents
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.wait(grace_s)
        shutil.rmtree(temp_dir, ignore_errors=True)
        os.killpg(0, signal.SIGKILL)
    return node.wait()


if __name__ == "__main__":
    raise SystemExit(supervise(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))

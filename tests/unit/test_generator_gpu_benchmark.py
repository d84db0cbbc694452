"""The GPU benchmark's code path, on the tiny model on the CPU, run as the GPU machine runs it.

The GPU machine has the checkout but no installed package, so the script is run here with the editable
install's import hook removed and from another directory: it must find likeness in the checkout itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUN_AS_ON_THE_GPU_MACHINE = """
import runpy, sys
sys.meta_path[:] = [finder for finder in sys.meta_path if "Editable" not in repr(finder)]
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_gpu_benchmark_runs_its_three_configurations_on_the_tiny_model(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "generator_gpu.py"
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_AS_ON_THE_GPU_MACHINE,
            str(script),
            "--tiny",
            "--steps",
            "2",
            "--rounds",
            "1",
            "--json",
            str(results),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    output = completed.stdout
    assert "random weights" in output
    assert "identity adapter overhead per step" in output
    summary = json.loads(results.read_text())
    assert summary["random_weights"] is True
    assert set(summary["results"]) == {
        "stock WanPipeline",
        "ours, identity strength 0",
        "ours, identity strength 0.8",
    }
    for result in summary["results"].values():
        assert len(result["steps"]) == 1 and result["mean_s"] > 0

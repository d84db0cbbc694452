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


def run_benchmark(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_AS_ON_THE_GPU_MACHINE,
            str(ROOT / "benchmarks" / "generator_gpu.py"),
            *args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_engine_benchmark_measures_every_configuration_on_the_tiny_model(tmp_path: Path) -> None:
    results = tmp_path / "engine.json"
    arguments = ["--tiny", "--reps", "1", "--steps", "8", "--restart-check", "--replica"]
    completed = run_benchmark(tmp_path, *arguments, "--json", str(results))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "weights are random" in completed.stdout
    summary = json.loads(results.read_text())
    assert summary["random_weights"] is True
    labels = set(summary["results"])
    assert {"VAE decode", "stock eager step (native)", "draft clip (4 steps, no guidance, decode)"} <= labels
    assert "restart (fresh process, same inductor cache)" in labels
    compiled = summary["results"]["ours compiled vs eager output"]["relative_difference"]
    assert compiled < 1e-3  # float32 on the CPU: compilation keeps the output
    assert summary["summary"]["final_step_s"] > 0 and summary["summary"]["draft_clip_s"] > 0
    fast = summary["results"]["fast clip (8 steps with MagCache, decode; measured end to end)"]
    # The replica's own fast clip skipped passes through the model's denoise, in both experts.
    assert fast["clip_s"] > 0 and all(count > 0 for count in fast["skipped_passes"].values())
    assert 0 < fast["computed_passes_fraction"] < 1 and len(fast["step_s"]) == 8
    assert summary["summary"]["first_request_vs_warm"] > 0


def test_the_scaling_run_matches_one_rank_on_cpu_ranks(tmp_path: Path) -> None:
    results = tmp_path / "scaling.json"
    completed = run_benchmark(tmp_path, "--tiny", "--gpus", "1,2", "--reps", "1", "--json", str(results))
    assert completed.returncode == 0, completed.stderr[-3000:]
    runs = json.loads(results.read_text())["results"]
    assert len(runs) == 2
    for run in runs.values():
        assert run["relative_difference_vs_first"] < 1e-6 and run["mean_s"] > 0


def test_the_adapter_benchmark_runs_its_three_configurations_on_the_tiny_model(tmp_path: Path) -> None:
    script = ROOT / "benchmarks" / "generator_gpu.py"
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_AS_ON_THE_GPU_MACHINE,
            str(script),
            "--adapter",
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


def test_the_replica_run_starts_cold_then_restarts_on_the_cache_it_left(tmp_path: Path) -> None:
    results = tmp_path / "replica.json"
    completed = run_benchmark(tmp_path, "--tiny", "--replica-only", "--steps", "4", "--json", str(results))
    assert completed.returncode == 0, completed.stderr[-3000:]
    runs = json.loads(results.read_text())["results"]
    cold = runs["replica start: build, compile, warm-up (cold: an empty inductor cache)"]
    again = runs["replica start: build, compile, warm-up (restart: the cache the first start left)"]
    assert cold["compile_and_warm_up_s"] > 0 and again["compile_and_warm_up_s"] > 0
    assert "fast clip (4 steps with MagCache, decode; measured end to end)" in runs

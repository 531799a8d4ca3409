"""What the GPU did while a benchmark ran: nvidia-smi sampled every 5 s, summarised per GPU.
Standard library only, so that a GPU machine without the search's dependencies can run it."""

from __future__ import annotations

import shutil
import subprocess


def sample_gpus() -> subprocess.Popen[str] | None:
    """nvidia-smi reading each GPU's utilisation every 5 s while the search runs, or None
    where there is no nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = ["--query-gpu=index,utilization.gpu", "--format=csv,noheader,nounits", "-l", "5"]
    return subprocess.Popen(
        [exe, *query], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def gpu_utilisation(readings: str) -> dict[str, dict[str, float]] | None:
    """Per GPU, from nvidia-smi's ``index, percent`` lines: the share of samples in which
    it was busy at all, and its mean utilisation then (None: no readings)."""
    per_gpu: dict[str, list[float]] = {}
    for line in readings.splitlines():
        index, _, percent = line.partition(",")
        try:
            value = float(percent)
        except ValueError:
            continue  # "[N/A]", or a line cut off when the sampler stopped
        per_gpu.setdefault(index.strip(), []).append(value)
    result = {}
    for index, values in per_gpu.items():
        busy = [v for v in values if v > 0]
        result[index] = {
            "samples": len(values),
            "busy_share": round(len(busy) / len(values), 3),
            "mean_percent_when_busy": round(sum(busy) / len(busy), 1) if busy else 0.0,
        }
    return result or None

"""Hostile pictures given to `predict`, in a real process (issue 12, item 10).

Pictures that would decode to gigabytes, a decompression bomb, a FIFO named like a picture
and blank pictures: each gets one line (an error on stderr, or "no object found"), the
other pictures are still classified, and the process stays within bounded memory and
time. Before, these cost 1.2-1.5 GB, ended in a traceback, hung, or came back as a class
at 100%.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.test_model import shirt, write_model_folder, write_png

#: predict runs with at most this much address space: a picture decoded in full would not
#: fit beside Python, numpy and onnxruntime.
ADDRESS_SPACE = 3 * 2**30
#: ... and must not reach this much resident memory at its peak (it needs ~100 MB).
PEAK_RSS = 1 * 2**30


#: The predict process, as the CLI runs it, reporting its own peak resident memory. VmHWM
#: of /proc/self/status counts only this program: the ``ru_maxrss`` of wait4 would also
#: count the test process it was forked from (hundreds of MB once the suite has loaded the
#: data), which made this test depend on what ran before it.
_PREDICT = """
import atexit, os, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def _peak():
    with open("/proc/self/status") as status:
        kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open({peak_file!r}, "w") as out:
        out.write(kb)
atexit.register(_peak)
from automl_fashion.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_predict(
    tmp_path: Path, model: Path, *pictures: Path, timeout: float = 60
) -> tuple[int, str, str, int]:
    """rc, stdout, stderr and peak resident bytes of `predict` in a process of its own."""
    out, err, peak = tmp_path / "stdout.txt", tmp_path / "stderr.txt", tmp_path / "peak.txt"
    peak.unlink(missing_ok=True)
    program = _PREDICT.format(limit=ADDRESS_SPACE, peak_file=str(peak))
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", program, "predict", str(model), *map(str, pictures)],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"predict did not finish within {timeout} s: {err.read_text()}")
    assert peak.is_file(), f"predict did not report its peak memory: {err.read_text()}"
    return proc.returncode, out.read_text(), err.read_text(), int(peak.read_text()) * 1024


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_folder(tmp_path_factory.mktemp("model") / "model")


def test_hostile_pictures_get_one_line_each_in_bounded_memory(model: Path, tmp_path: Path) -> None:
    bomb = write_png(tmp_path / "bomb.png", 20_000, 20_000, mode="1")
    gray = write_png(tmp_path / "gray.png", 12_000, 12_000)
    rgb = write_png(tmp_path / "rgb.png", 9_400, 9_400, mode="RGB")
    assert max(p.stat().st_size for p in (bomb, gray, rgb)) < 2_000_000  # kB on disk
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    blanks = [tmp_path / f"{name}.png" for name in ("dot", "white", "black")]
    Image.new("L", (1, 1), 0).save(blanks[0])
    Image.new("RGB", (300, 200), "white").save(blanks[1])
    Image.new("RGB", (300, 200), "black").save(blanks[2])
    good = tmp_path / "good.png"
    shirt().save(good)

    rc, stdout, stderr, peak = run_predict(tmp_path, model, bomb, gray, fifo, good, rgb, *blanks)

    assert rc == 2, stderr
    assert "Traceback" not in stderr
    errors = stderr.strip().splitlines()
    expected = [
        (bomb, "too large to read (Image size (400000000 pixels) exceeds limit"),
        (gray, "12000 x 12000 pixels is too large to read; expected at most 49 megapixels"),
        (fifo, "not a regular file; expected a picture file"),
        (rgb, "9400 x 9400 pixels is too large to read; expected at most 36 megapixels"),
    ]
    assert len(errors) == len(expected), stderr
    for line, (path, message) in zip(errors, expected, strict=True):
        assert line.startswith(f"automl-fashion: error: {path}: {message}")
    lines = stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{good}: ") and lines[0].endswith("%)")
    for line, blank in zip(lines[1:], blanks, strict=True):
        assert line.startswith(f"{blank}: no object found (a picture of one flat colour")
    assert peak < PEAK_RSS, f"predict peaked at {peak / 2**20:.0f} MB"


def test_a_picture_just_under_the_limit_is_read_in_bounded_memory(
    model: Path, tmp_path: Path
) -> None:
    """The limit is what it costs: the largest grayscale picture allowed stays in budget."""
    from automl_fashion.data.pictures import MAX_IMAGE_MEMORY, pixel_limit

    side = int(pixel_limit("L") ** 0.5)
    picture = tmp_path / "large.png"
    image = Image.new("L", (side, side), 255)
    image.paste(0, (side // 4, side // 4, side // 2, side // 2))
    image.save(picture)
    del image
    rc, stdout, stderr, peak = run_predict(tmp_path, model, picture)
    assert rc == 0 and stdout.startswith(f"{picture}: "), stderr
    assert peak < 200 * 2**20 + MAX_IMAGE_MEMORY, f"predict peaked at {peak / 2**20:.0f} MB"

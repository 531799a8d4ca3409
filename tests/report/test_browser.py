"""The report opened in a real browser (headless Chromium): every image loads.

A copy of the page gets a small script that, once the page has loaded, writes each
image's natural width into the DOM; ``--dump-dom`` prints that DOM. An image that failed
to load has a natural width of 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest

from automl_fashion.report import write_report
from automl_fashion.storage import artifacts_dir
from tests.report.conftest import STUDY

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) img.setAttribute("data-natural", img.naturalWidth);
  document.body.setAttribute("data-probed", document.images.length);
});
</script></body>"""


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (apt-get install chromium; CI installs it)",
)
def test_every_image_of_the_report_loads_in_headless_chromium(
    real_study: tuple[optuna.Study, Path], tmp_path: Path
) -> None:
    assert CHROMIUM is not None, "CI is set but chromium is missing: .ci/run installs it"
    study, folder = real_study
    page = write_report(study, tmp_path / "rep", artifacts=artifacts_dir(STUDY, folder))
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE), encoding="utf-8")
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    probed = re.search(r'data-probed="(\d+)"', dom)
    assert probed, "the probe did not run: " + dom[-500:]
    widths = re.findall(r'<img[^>]*data-natural="(\d+)"', dom)
    assert len(widths) == int(probed.group(1)) == len(re.findall(r"<img ", page.read_text()))
    assert len(widths) > 10  # figures and thumbnails
    assert all(int(w) > 0 for w in widths), widths

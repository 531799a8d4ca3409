"""How the plan reads measured speeds on more threads, and on a GPU."""

from __future__ import annotations

import pytest

from automl_fashion.search.speeds import SCALED_THREADS, Speeds

ON_CPU = Speeds(
    fit_seconds={"cnn": 400.0, "svm": 80.0},
    epochs={"cnn": 16},
    speedup=1.7,
    long_seconds={"cnn": 1600.0},
)
ON_GPU = Speeds(**{**ON_CPU.__dict__, "fit_seconds": {"cnn": 40.0, "svm": 80.0}, "device": "cuda"})


def test_a_network_on_the_cpu_gains_the_speedup_per_doubling_of_threads() -> None:
    assert ON_CPU.fit_time("cnn", 1) == 400.0
    assert ON_CPU.fit_time("cnn", 4) == pytest.approx(400.0 / 1.7**2)
    assert ON_CPU.fit_time("cnn", 4, epochs=32) == pytest.approx(800.0 / 1.7**2)
    assert ON_CPU.long_time("cnn", 2) == pytest.approx(1600.0 / 1.7)


def test_a_network_on_a_gpu_takes_as_long_on_any_number_of_threads() -> None:
    """A 10-minute search on a 16-core H200 machine planned its 40-epoch cnn at 6 s (its
    GPU time divided by 1.7 per doubling of 16 threads); it took 88-94 s."""
    assert ON_GPU.fit_time("cnn", 16) == ON_GPU.fit_time("cnn", 1) == 40.0
    assert ON_GPU.long_time("cnn", 16) == 1600.0


@pytest.mark.parametrize("speeds", [ON_CPU, ON_GPU])
def test_the_other_families_gain_nothing_past_the_threads_measured(speeds: Speeds) -> None:
    assert SCALED_THREADS == 2
    assert speeds.fit_time("svm", 2) == pytest.approx(80.0 / 1.7)
    assert speeds.fit_time("svm", 16) == speeds.fit_time("svm", 2)
    assert speeds.fit_time("svm", 1) == 80.0
    assert speeds.fit_time("boosting", 16) is None  # not measured: of unknown cost


def test_a_long_configuration_gains_its_own_speedup_and_less_overhead_alone() -> None:
    """Wider networks gain more from a second thread than the init the speedup was timed
    on (here 1.64x against 1.39x); a worker alone on the machine shares no memory bus."""
    timed = Speeds(
        **{**ON_CPU.__dict__, "long_speedup": {"cnn": 1.64}, "alone": 0.85, "speedup": 1.39}
    )
    assert timed.long_time("cnn", 2) == pytest.approx(1600.0 / 1.64)
    assert timed.long_time("cnn", 2, alone=True) == pytest.approx(1600.0 * 0.85 / 1.64)
    assert timed.long_time("cnn", 1, alone=True) == pytest.approx(1600.0 * 0.85)
    assert timed.fit_time("cnn", 2) == pytest.approx(400.0 / 1.39)  # the init: its own
    on_gpu = Speeds(**{**timed.__dict__, "device": "cuda"})
    assert on_gpu.long_time("cnn", 2, alone=True) == 1600.0


def test_a_family_with_its_own_gain_on_two_threads_uses_it() -> None:
    """The svm's SVC fit runs on one thread: planned at the networks' 1.7x, a 10-minute
    search's svm took 78-115 s on two threads where the plan said 47-54 s."""
    svm = Speeds(**{**ON_CPU.__dict__, "gains": {"svm": 1.1}})
    assert svm.fit_time("svm", 2) == pytest.approx(80.0 / 1.1)
    assert svm.fit_time("svm", 8) == svm.fit_time("svm", 2)
    assert svm.fit_time("cnn", 2) == pytest.approx(400.0 / 1.7)

"""What a search needs, checked before anything is written: :class:`SearchConfig`.

Every check here runs before a study, journal or folder is created, so that a bad flag
costs nothing and leaves nothing behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from automl_fashion import families as family_registry
from automl_fashion.errors import ConfigError
from automl_fashion.pruning import make_pruner
from automl_fashion.search_space import load_space
from automl_fashion.threads import available_cores, total_memory

if TYPE_CHECKING:
    from automl_fashion.data.spec import DatasetSpec

SAMPLERS = ("tpe", "random")
DEFAULT_SAMPLER, DEFAULT_PRUNER = "tpe", "sha"
#: numpy and Optuna's samplers take 32-bit seeds.
MAX_SEED = 2**32 - 1
#: Study names end up in file names: letters, digits, ``.``, ``_`` and ``-``; no leading dot.
STUDY_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
#: What one worker process may need: the split in memory, torch, a model and its batches.
WORKER_MEMORY = 1 << 30
#: Worker processes per core at most: more only queue for the same cores, and each one
#: costs its start-up time and memory before it runs a trial.
JOBS_PER_CORE = 2


def max_jobs() -> int:
    """The most worker processes this machine can run usefully (cores and memory)."""
    by_memory = total_memory() // WORKER_MEMORY
    return max(1, min(JOBS_PER_CORE * available_cores(), by_memory or 1))


@dataclass
class SearchConfig:
    """Everything a search needs; the CLI fills it from flags."""

    budget: float  # seconds for the whole command
    study: str = "fashion"
    #: Families to search; None: the study's own on resume, else every registered one.
    families: list[str] | None = None
    jobs: int | None = None  # worker processes; default: one per core
    threads: int | None = None  # threads per worker; default: cores // jobs
    storage: str | None = None  # Optuna storage URL; default: studies/<study>.journal
    studies_dir: str | None = None
    seed: int = 0
    #: None: the study's own on resume, else DEFAULT_SAMPLER / DEFAULT_PRUNER (see
    #: ``join.resolve_sampling``).
    sampler: str | None = None
    pruner: str | None = None
    warm_start: bool = True
    #: Validation images; None: the data set's default (10,000 for the built-in sets).
    val_size: int | None = None
    data_dir: str | None = None
    #: The data set: a built-in name (--dataset), or a folder of pictures (--data DIR)
    #: brought to --image-size and --color.
    dataset: str = "fashion-mnist"
    data: str | None = None
    image_size: int | None = None
    color: str | None = None
    spaces_dir: str | None = None
    device: str = "auto"
    #: Train on this many images per class (smoke tests); None = the full split.
    train_per_class: int | None = None
    #: Join an existing study as extra workers (``automl-fashion worker``).
    join: bool = False
    #: Export the best model here when the search ends (None: do not export).
    export_dir: str | None = None
    #: Deployment limits of that export: ms per 1,000 images, MB (see export.limits).
    max_predict_ms: float | None = None
    max_size_mb: float | None = None

    def validated(self) -> SearchConfig:
        """Check every setting; raise ConfigError naming the flag, the value and the rule."""
        if not isinstance(self.study, str) or not STUDY_NAME.fullmatch(self.study):
            raise ConfigError(
                f"--study: {str(self.study)[:40]!r}{'...' if len(str(self.study)) > 40 else ''}"
                " is not a valid study name; expected 1-100 characters of letters, digits, "
                "'.', '_' and '-', not starting with '.'"
            )
        check_int("--seed", self.seed, 0, MAX_SEED)
        if self.families is not None:
            self.families = unique(self.families)
            if not self.families:
                raise ConfigError("--families: give at least one family")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler: {self.sampler!r}; expected one of {list(SAMPLERS)}")
        if self.pruner is not None:
            make_pruner(self.pruner)
        self._check_workers()
        self.dataset_spec()  # checks --dataset, --data, --image-size and --color
        if self.val_size is not None:
            check_int("--val-size", self.val_size, 10, 10_000_000)
        if self.train_per_class is not None:  # at most what the data set has: see search
            check_int("--train-per-class", self.train_per_class, 1, 1_000_000)
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise ConfigError(
                f"--device: {self.device!r} is not a device; expected auto, cpu, cuda, cuda:N "
                "or mps"
            )
        # before the study is open, the families it may search: these, or all of them
        self.check_families(self.families or family_registry.default_names())
        self._check_export_dir()
        from automl_fashion.export.limits import Limits

        Limits(self.max_predict_ms, self.max_size_mb)  # checks them
        return self

    def dataset_spec(self) -> DatasetSpec:
        """The data set these settings name (checked)."""
        from automl_fashion.data.spec import DatasetSpec

        # absolute: export, evaluate and resume may run from another directory
        folder = str(Path(self.data).expanduser().absolute()) if self.data else None
        return DatasetSpec(
            name=self.dataset,
            folder=folder,
            image_size=self.image_size,
            color=self.color,
            seed=self.seed,
        ).validated()

    def _check_export_dir(self) -> None:
        """Refuse an export folder now, not after the whole budget. The default,
        ``studies/<study>.model``, may wait for the studies folder to be made."""
        if self.export_dir is None:
            return
        from automl_fashion.export.outdir import check_out_dir
        from automl_fashion.storage import studies_dir

        parent = Path(self.export_dir).expanduser().resolve().parent
        default_home = studies_dir(self.studies_dir).expanduser().resolve()
        if parent.is_dir() or parent != default_home:
            check_out_dir(self.export_dir, flag="--export")

    def check_families(self, names: list[str]) -> None:
        """The families exist, their search spaces load and the device can run them."""
        family_registry.check_names(names)
        for name in names:
            load_space(name, self.spaces_dir)  # a bad search-space file fails here, early
        check_device(self.device, names)

    def _check_workers(self) -> None:
        for flag, value in (("--jobs", self.jobs), ("--threads", self.threads)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{flag} must be at least 1; got {value}")
        cores, most = available_cores(), max_jobs()
        if self.jobs is not None and self.jobs > most:
            raise ConfigError(
                f"--jobs must be at most {most} on this machine ({JOBS_PER_CORE} per core on "
                f"{cores} core(s), and {WORKER_MEMORY >> 30} GiB of memory each); got {self.jobs}"
            )
        if self.threads is not None and self.threads > cores:
            raise ConfigError(
                f"--threads must be at most {cores}, the cores this process may use; "
                f"got {self.threads}"
            )
        jobs, threads = self.workers()
        if jobs * threads > JOBS_PER_CORE * cores:
            raise ConfigError(
                f"--jobs {jobs} x --threads {threads} = {jobs * threads} threads would "
                f"oversubscribe {cores} core(s); expected at most {JOBS_PER_CORE * cores}"
            )

    def workers(self) -> tuple[int, int]:
        """(worker processes, threads per worker): fill the cores, never oversubscribe."""
        cores = available_cores()
        if self.jobs is None and self.threads is None:
            return min(cores, max_jobs()), 1
        if self.jobs is None:
            threads = self.threads or 1
            return max(1, min(cores // threads, max_jobs())), threads
        return self.jobs, self.threads or max(1, cores // self.jobs)


def unique(names: list[str]) -> list[str]:
    """``names`` without repeats, in first-seen order."""
    return list(dict.fromkeys(names))


def check_int(flag: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{flag}: {value!r}; expected an integer from {low} to {high}")


def check_device(device: str, names: list[str]) -> None:
    """A GPU device is refused at once when this machine has none (torch families only).

    torch is imported only when a torch family is searched on a device other than the CPU.
    """
    if device in ("auto", "cpu"):
        return
    from automl_fashion.families._torch import TorchFamily

    if not any(issubclass(family_registry.get(n), TorchFamily) for n in names):
        return  # no family here uses the device
    try:
        import torch
    except ImportError:
        raise ConfigError(f"--device {device}: torch is not installed; use --device cpu") from None
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise ConfigError(
                f"--device {device}: this machine has {count} CUDA device(s) usable by torch; "
                "expected auto or cpu here"
            )
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(
                "--device mps: Apple's MPS is not available here; expected auto or cpu"
            )

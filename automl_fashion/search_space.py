"""Declarative search spaces: one YAML file per model family in ``search_spaces/``.

A file looks like::

    family: mlp
    init:                 # a known-good configuration, tried first
      lr: 0.001
      optimizer: adamw
    variants:             # optional: changes to init for further known-good members
      - {lr: 0.003}
    long: {width: 512}    # optional: changes to init for long budgets (the plan's first)
    second: {depth: 3}    # optional: changes to init for the second round at long budgets
    solo: {lr: 0.003}     # optional: changes to long for the one network of short budgets
    gpu:                  # optional: where the networks train on a GPU
      params:             # these ranges replace the ones below (wider: init stays valid)
        width: {type: int, low: 64, high: 4096, log: true, step: 1}
      configs:            # changes to init: the plan's networks there, one per worker
        - {width: 2048}
    params:
      lr:        {type: float, low: 1.0e-4, high: 0.1, log: true}
      optimizer: {type: categorical, choices: [adamw, sgd]}
      momentum:  {type: float, low: 0.5, high: 0.99, when: {optimizer: sgd}}
      epochs:    {type: int, low: 5, high: 40}
      width:     {type: int, low: 64, high: 1024, log: true, step: 1}
      fixed_seed: {type: fixed, value: 3}

``when`` makes a parameter conditional: it exists only when every named parameter has one
of the given values. Loading validates the whole file; errors name the file, the parameter
and the bad value. Parameter names in the Optuna study are ``<family>.<name>`` because one
study holds several families.

A space is searched within what the data set allows (:meth:`SearchSpace.for_data`): where a
mirror image changes the label (``DatasetInfo.flips`` false, digits), ``flip`` is fixed to
false, so it is never suggested, and init, variants, long, second and solo have it off. The files
stay as they are. Where the networks train on a GPU, a space is searched within its ``gpu``
ranges (:meth:`SearchSpace.on_gpu`): larger networks, batches and schedules than a CPU
trains in the same time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl_fashion.errors import ConfigError

if TYPE_CHECKING:
    import optuna

    from automl_fashion.data.info import DatasetInfo

TYPES = ("float", "int", "categorical", "bool", "fixed")
#: Parameters that mirror training images (and switch on flip test-time augmentation):
#: off where a mirror image changes the label.
FLIP_PARAMS = ("flip",)


def spaces_dir() -> Path:
    """Where the YAML files live: $AUTOML_FASHION_SPACES, the checkout, or the wheel copy."""
    if env := os.environ.get("AUTOML_FASHION_SPACES"):
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent / "search_spaces"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "_search_spaces"


@dataclass(frozen=True)
class Param:
    """One searchable parameter."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    def applies(self, params: Mapping[str, Any]) -> bool:
        return all(params.get(k) in allowed for k, allowed in self.when.items())

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` if it is valid for this parameter, else raise ConfigError."""
        bad = f"{where}: parameter '{self.name}'"
        if self.type == "fixed":
            if value != self.value:
                raise ConfigError(f"{bad} is fixed to {self.value!r}; got {value!r}")
            return value
        if self.type in ("categorical", "bool"):
            choices = (False, True) if self.type == "bool" else self.choices
            if value not in choices or (self.type == "bool" and not isinstance(value, bool)):
                raise ConfigError(f"{bad} must be one of {list(choices)}; got {value!r}")
            return value
        assert self.low is not None and self.high is not None
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{bad} must be an integer; got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{bad} must be a number; got {value!r}")
        if not math.isfinite(value) or not self.low <= value <= self.high:
            raise ConfigError(f"{bad} must be in [{self.low}, {self.high}]; got {value!r}")
        return float(value) if self.type == "float" else value


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of one family and its known-good ``init`` configuration."""

    family: str
    params: tuple[Param, ...]
    init: Mapping[str, Any]
    source: str = "<memory>"
    #: Known-good configurations unlike ``init`` (whole, validated): the budget plan trains
    #: them as further networks, for an ensemble more diverse than seeds of one init.
    variants: tuple[Mapping[str, Any], ...] = ()
    #: A known-good configuration for long budgets (whole, validated), or None: the budget
    #: plan's first networks where a worker has time for it (a wider network trained
    #: longer beats longer schedules of ``init`` there).
    long: Mapping[str, Any] | None = None
    #: Another known-good configuration for long budgets (whole, validated), or None: the
    #: budget plan's second round of networks where both it and ``long`` fit a worker (a
    #: different architecture makes other mistakes: an ensemble gains more from it than
    #: from a second seed of ``long``).
    second: Mapping[str, Any] | None = None
    #: ``long`` as the one network of a short budget trains it (whole, validated), or None
    #: (then ``long`` itself): the budget plan's lone network on every core, whose schedule
    #: (15-25 epochs on two CPU cores) is shorter than those ``long`` was found with. Its
    #: schedule, not its network: the calibration times ``long`` for it.
    solo: Mapping[str, Any] | None = None
    #: Parameters whose ranges a GPU widens (the file's ``gpu: params``): see ``on_gpu``.
    gpu_params: tuple[Param, ...] = ()
    #: Known-good configurations for a GPU (whole, validated in its ranges): the budget
    #: plan's networks there, one per worker, in this order.
    gpu_configs: tuple[Mapping[str, Any], ...] = ()

    def on_gpu(self) -> SearchSpace:
        """This space as searched where the networks train on a GPU: the ``gpu`` ranges in
        place of the others (the same space where the file has none)."""
        if not self.gpu_params:
            return self
        wider = {p.name: p for p in self.gpu_params}
        return replace(self, params=tuple(wider.get(p.name, p) for p in self.params), gpu_params=())

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a configuration; unknown, missing and out-of-range values are errors."""
        known = {p.name for p in self.params}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown parameter(s) {unknown} for family '{self.family}'; "
                f"known: {sorted(known)}"
            )
        out: dict[str, Any] = {}
        for p in self.params:
            if p.type == "fixed":
                out[p.name] = p.check(params.get(p.name, p.value), self.source)
            elif p.applies(out):
                if p.name not in params:
                    raise ConfigError(f"{self.source}: parameter '{p.name}' is missing")
                out[p.name] = p.check(params[p.name], self.source)
        return out

    def changes(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """What ``config`` changes in this space's ``init``."""
        return {k: v for k, v in config.items() if self.init.get(k) != v}

    def for_data(self, info: DatasetInfo | None) -> SearchSpace:
        """This space as the data set ``info`` allows it: without flips (``flip`` fixed to
        false, in init, variants, long, second and solo too) where a mirror image changes the
        label. ``None``, or a data set whose labels survive a mirror: the space itself."""
        if info is None or info.flips or not any(p.name in FLIP_PARAMS for p in self.params):
            return self
        params = tuple(
            replace(p, type="fixed", value=False) if p.name in FLIP_PARAMS else p
            for p in self.params
        )
        off = {name: False for name in FLIP_PARAMS if name in self.init}
        variants = tuple({**v, **{k: False for k in FLIP_PARAMS if k in v}} for v in self.variants)
        long, second, solo = (
            {**c, **off} if c is not None else None for c in (self.long, self.second, self.solo)
        )
        return replace(
            self,
            params=params,
            init={**self.init, **off},
            variants=variants,
            long=long,
            second=second,
            solo=solo,
            gpu_params=tuple(p for p in self.gpu_params if p.name not in FLIP_PARAMS),
            gpu_configs=tuple({**c, **off} for c in self.gpu_configs),
        )

    def suggest(
        self, trial: optuna.trial.BaseTrial, info: DatasetInfo | None = None
    ) -> dict[str, Any]:
        """Draw one configuration through Optuna (names prefixed with the family), within
        what the data set ``info`` allows (see :meth:`for_data`; ``None``: everything)."""
        out: dict[str, Any] = {}
        for p in self.for_data(info).params:
            if not p.applies(out):
                continue
            key = f"{self.family}.{p.name}"
            if p.type == "fixed":
                out[p.name] = p.value
            elif p.type == "float":
                assert p.low is not None and p.high is not None
                out[p.name] = trial.suggest_float(key, p.low, p.high, log=p.log, step=p.step)
            elif p.type == "int":
                assert p.low is not None and p.high is not None
                out[p.name] = trial.suggest_int(
                    key, int(p.low), int(p.high), log=p.log, step=int(p.step or 1)
                )
            elif p.type == "bool":
                out[p.name] = trial.suggest_categorical(key, [False, True])
            else:
                out[p.name] = trial.suggest_categorical(key, list(p.choices))
        return out

    def trial_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A validated configuration as Optuna parameter names (for ``enqueue_trial``)."""
        chosen = self.validate(params)
        types = {p.name: p.type for p in self.params}
        return {f"{self.family}.{k}": v for k, v in chosen.items() if types[k] != "fixed"}


def _parse_param(name: str, spec: Any, where: str) -> Param:
    here = f"{where}: parameter '{name}'"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{here} must be a mapping; got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise ConfigError(f"{here} has type {kind!r}; expected one of {TYPES}")
    allowed = {"type", "when", "low", "high", "log", "step", "choices", "value"}
    extra = sorted(set(spec) - allowed)
    if extra:
        raise ConfigError(f"{here} has unknown key(s) {extra}")
    when_raw = spec.get("when", {}) or {}
    if not isinstance(when_raw, Mapping):
        raise ConfigError(f"{here}: 'when' must be a mapping; got {when_raw!r}")
    when = {k: tuple(v) if isinstance(v, list | tuple) else (v,) for k, v in when_raw.items()}
    if kind in ("float", "int"):
        low, high = spec.get("low"), spec.get("high")
        for key, val in (("low", low), ("high", high)):
            if isinstance(val, bool) or not isinstance(val, int | float):
                raise ConfigError(f"{here}: '{key}' must be a number; got {val!r}")
            if kind == "int" and not float(val).is_integer():
                raise ConfigError(f"{here}: '{key}' must be an integer; got {val!r}")
        assert low is not None and high is not None
        if not low < high:
            raise ConfigError(f"{here}: low {low} must be below high {high}")
        log = bool(spec.get("log", False))
        if log and low <= 0:
            raise ConfigError(f"{here}: log scale needs low > 0; got {low}")
        step = spec.get("step")
        if step is not None and log:
            raise ConfigError(f"{here}: 'step' and 'log' cannot be combined")
        return Param(name, kind, float(low), float(high), log, step, when=when)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{here}: 'choices' must be a non-empty list; got {choices!r}")
        return Param(name, kind, choices=tuple(choices), when=when)
    if kind == "fixed":
        if "value" not in spec:
            raise ConfigError(f"{here}: a fixed parameter needs 'value'")
        return Param(name, kind, value=spec["value"], when=when)
    return Param(name, kind, when=when)


def parse_space(doc: Any, where: str, family: str | None = None) -> SearchSpace:
    """Build and validate a :class:`SearchSpace` from a loaded YAML document."""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'family', 'params', 'init'")
    name = doc.get("family")
    if not isinstance(name, str) or (family is not None and name != family):
        raise ConfigError(f"{where}: 'family' is {name!r}; expected {family!r}")
    raw_params = doc.get("params")
    if not isinstance(raw_params, Mapping) or not raw_params:
        raise ConfigError(f"{where}: 'params' must be a non-empty mapping")
    params = tuple(_parse_param(str(k), v, where) for k, v in raw_params.items())
    names = [p.name for p in params]
    for p in params:
        for dep in p.when:
            if dep not in names[: names.index(p.name)]:
                raise ConfigError(
                    f"{where}: parameter '{p.name}': 'when' refers to '{dep}', which must be "
                    "a parameter declared above it"
                )
    init = doc.get("init")
    if not isinstance(init, Mapping):
        raise ConfigError(f"{where}: 'init' (a known-good configuration) must be a mapping")
    space = SearchSpace(name, params, dict(init), where)
    raw_variants = doc.get("variants", [])
    if not isinstance(raw_variants, list) or not all(isinstance(v, Mapping) for v in raw_variants):
        raise ConfigError(f"{where}: 'variants' must be a list of mappings (changes to init)")
    variants = tuple(space.validate({**init, **v}) for v in raw_variants)
    long, second = (_whole(space, init, doc, key) for key in ("long", "second"))
    solo = _whole(space, long, doc, "solo", "long") if long is not None else None
    if solo is None and doc.get("solo") is not None:
        raise ConfigError(f"{where}: 'solo' (changes to long) needs a 'long' configuration")
    whole = SearchSpace(name, params, space.validate(init), where, variants, long, second, solo)
    return _with_gpu(whole, doc.get("gpu"))


def _with_gpu(space: SearchSpace, raw: Any) -> SearchSpace:
    """``space`` with the file's ``gpu`` section: wider ranges, and configurations valid in
    them. The ranges only widen: init, variants, long, second and solo stay valid on a GPU."""
    if raw is None:
        return space
    where = f"{space.source}: 'gpu'"
    if not isinstance(raw, Mapping) or set(raw) - {"params", "configs"}:
        raise ConfigError(f"{where} must be a mapping with 'params' and/or 'configs'")
    raw_params = raw.get("params") or {}
    if not isinstance(raw_params, Mapping):
        raise ConfigError(f"{where}: 'params' must be a mapping of parameter ranges")
    names = {p.name for p in space.params}
    unknown = sorted(set(map(str, raw_params)) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown parameter(s) {unknown}; known: {sorted(names)}")
    gpu_params = tuple(_parse_param(str(k), v, where) for k, v in raw_params.items())
    wider = replace(space, gpu_params=gpu_params).on_gpu()
    for what, config in [("init", space.init), *(("a variant", v) for v in space.variants)] + [
        (key, c)
        for key, c in (("long", space.long), ("second", space.second), ("solo", space.solo))
        if c is not None
    ]:
        try:
            wider.validate(config)
        except ConfigError as exc:
            raise ConfigError(
                f"{where}: its ranges must keep {what} valid (they may only widen): {exc}"
            ) from None
    raw_configs = raw.get("configs") or []
    if not isinstance(raw_configs, list) or not all(isinstance(c, Mapping) for c in raw_configs):
        raise ConfigError(f"{where}: 'configs' must be a list of mappings (changes to init)")
    configs = tuple(wider.validate({**space.init, **c}) for c in raw_configs)
    return replace(space, gpu_params=gpu_params, gpu_configs=configs)


def _whole(
    space: SearchSpace,
    base: Mapping[str, Any],
    doc: Mapping[str, Any],
    key: str,
    of: str = "init",
) -> dict[str, Any] | None:
    """The document's ``key`` (changes to ``base``, the configuration ``of``) as a whole
    validated configuration."""
    raw = doc.get(key)
    if raw is not None and not isinstance(raw, Mapping):
        raise ConfigError(f"{space.source}: '{key}' must be a mapping (changes to {of})")
    return None if raw is None else space.validate({**base, **raw})


def load_space(
    family: str,
    directory: str | os.PathLike[str] | None = None,
    info: DatasetInfo | None = None,
    *,
    gpu: bool = False,
) -> SearchSpace:
    """Load and validate ``<directory>/<family>.yaml``; with ``info``, as that data set
    allows it (:meth:`SearchSpace.for_data`); with ``gpu``, in its GPU ranges
    (:meth:`SearchSpace.on_gpu`)."""
    import yaml

    path = Path(directory) if directory is not None else spaces_dir()
    path = path / f"{family}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no search space for family '{family}': {path} does not exist") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    space = parse_space(doc, str(path), family).for_data(info)
    return space.on_gpu() if gpu else space

"""Pruners: settings from the config (per model or search-wide), the training resource they
count, and the pruner objects (Hyperband with per-slot brackets)."""

from __future__ import annotations

import binascii
import logging

import optuna

from uhecr import models
from uhecr.spaces import parse_space

log = logging.getLogger(__name__)


class SlotHyperbandPruner(optuna.pruners.HyperbandPruner):
    """Optuna's Hyperband with each trial's bracket drawn from its budget slot (user attribute
    ``seed``: the sweep's seed + the slot), not its number: the retry of a killed trial (a new
    number, the same slot and seeds) lands in the bracket the trial had. It prunes over the
    history study of ``history_study``, which holds no killed trial."""

    def _get_bracket_id(self, study, trial) -> int:
        if len(self._pruners) == 0:
            return 0
        # From the trial's seed (the sweep's seed + its slot), not the study name as in Optuna:
        # the name hashes the feature table, whose source paths name the results folder, so
        # the same config run in another folder would put trials in other brackets.
        n = binascii.crc32(str(trial.user_attrs.get("seed", trial.number)).encode())
        n %= self._total_trial_allocation_budget
        for bracket_id in range(self._n_brackets):
            n -= self._trial_allocation_budgets[bracket_id]
            if n < 0:
                return bracket_id
        raise AssertionError("unreachable: the budgets add up to the total")


def max_steps(model: str, model_cfg: dict) -> int:
    """The most steps a trial of this sweep can report (``models.Classifier.steps`` of the
    longest training its fixed parameters or space allow): Hyperband's ``max_resource: auto``.
    Optuna's own "auto" takes the steps of the trials complete when a worker first prunes, which
    differ between workers and in a resumed worker whenever trials differ in length (boosting
    rounds in the space, early stopping): their brackets would then differ."""
    cls = models.MODELS[model]
    if cls.resource is None:
        return 1
    name, default = cls.resource
    space = parse_space(model_cfg.get("space", {}), model)
    key = f"models.{model}.space.{name}"
    if name in model_cfg.get("fixed", {}):
        amounts, key = [model_cfg["fixed"][name]], f"models.{model}.fixed.{name}"
    elif name not in space:
        amounts = [default]
    elif space[name][0] == "layers":
        raise ValueError(f"config key {key}: {name} is a number, not layer sizes")
    else:
        dist = space[name][1]
        if dist.kind == "choice":
            amounts = list(dist.args[0])
        else:  # range excludes its upper bound, (log)uniform includes it
            amounts = [dist.args[1] - (dist.kind == "range")]
        if space[name][0] == "when":  # trials its condition leaves out train the default
            amounts.append(default)
    try:
        return max(1, max(cls.steps(int(amount)) for amount in amounts))
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"config key {key}: {name} must be a number ({exc})") from exc


# The settings each pruner reads (resolve_pruner); search.pruner may hold others, so that
# switching its name is a one-word change, but a model's own pruner may not.
PRUNER_SETTINGS = {
    "median": {"name", "n_startup_trials", "n_warmup_steps"},
    "hyperband": {"name", "min_resource", "max_resource", "reduction_factor"},
    "successive_halving": {"name", "min_resource", "reduction_factor"},
    "none": {"name"},
}


def pruner_config(model: str, model_cfg: dict, search_cfg: dict) -> dict:
    """The pruner settings one model's sweeps use, as configured (Hyperband's "auto" kept), and
    only those: the keys of ``models.<model>.pruner`` over those of ``search.pruner``, cut to
    the keys the resulting pruner reads. ``{"name": "none"}`` where ``search.pruner.name`` is
    none (it turns pruning off for every model) or the model reports no steps (the SVM). The
    sweep key and the sweep jobs' params hash this, so a setting the model's pruner does not
    read changes no study and reruns nothing. A step is a different amount of training per
    model (an epoch, 10 boosting rounds), hence a model's own settings.

    Raises ValueError naming the config key for a model's own setting that would be ignored."""
    own = model_cfg.get("pruner") or {}
    shared = search_cfg.get("pruner") or {}
    if models.MODELS[model].resource is None:
        if own and own != {"name": "none"}:
            raise ValueError(
                f"config key models.{model}.pruner: {model} trains in one fit and reports no "
                "step, so it is never pruned"
            )
        return {"name": "none"}
    if shared.get("name") == "none":  # pruning off for every model
        if "name" in own:  # still checked, so that switching search.pruner back cannot fail
            check_own_pruner(model, own, own["name"])
        return {"name": "none"}
    merged = {**shared, **own}
    name = merged.get("name", "median")
    reads = check_own_pruner(model, own, name)
    if reads is None:  # an unknown name: resolve_pruner names the key
        return merged
    return {k: merged[k] for k in sorted(merged) if k in reads}


def check_own_pruner(model: str, own: dict, name: str) -> set | None:
    """The settings pruner ``name`` reads (None: unknown name); raises ValueError for a key of
    the model's own pruner settings that it does not read."""
    reads = PRUNER_SETTINGS.get(name)
    unread = sorted(set(own) - reads) if reads is not None else []
    if unread:
        raise ValueError(
            f"config key models.{model}.pruner.{unread[0]}: the {name} pruner does not read "
            f"it (it reads {sorted(reads)}; an overlay merges dicts: models.{model}.pruner: "
            "null drops the model's own settings)"
        )
    return reads


def model_pruner(model: str, model_cfg: dict, search_cfg: dict) -> dict:
    """The resolved pruner of one model's sweeps (``resolve_pruner`` over ``pruner_config``,
    Hyperband's resource from the model's space); raises ValueError naming the config key."""
    own = model_cfg.get("pruner") or {}

    def key(setting: str) -> str:  # where a setting comes from, and for which model
        if setting in own:
            return f"models.{model}.pruner.{setting}"
        return f"search.pruner.{setting}" + (f" (models.{model})" if own else "")

    cfg = pruner_config(model, model_cfg, search_cfg)
    return resolve_pruner(cfg, max_steps(model, model_cfg), key)


def search_pruner_key(setting: str) -> str:
    return f"search.pruner.{setting}"


def resolve_pruner(cfg: dict, steps: int | None = None, key=search_pruner_key) -> dict:
    """The pruner settings with every default filled in and Hyperband's ``max_resource: auto``
    replaced by ``steps`` (``max_steps``: the most a trial can report) where given; a worker
    records what it pruned with. ``key``: setting -> the config key errors name."""
    name = cfg.get("name", "median")
    if name == "median":
        return {
            "name": name,
            "n_startup_trials": int(cfg.get("n_startup_trials", 5)),
            "n_warmup_steps": int(cfg.get("n_warmup_steps", 5)),
        }
    if name in ("hyperband", "successive_halving"):
        out = {
            "name": name,
            "min_resource": int(cfg.get("min_resource", 1)),
            "reduction_factor": int(cfg.get("reduction_factor", 3)),
        }
        if name == "successive_halving":
            return out
        max_resource = cfg.get("max_resource", "auto")
        if max_resource == "auto" and steps is not None:
            max_resource = max(int(steps), out["min_resource"])
        if max_resource != "auto" and int(max_resource) < out["min_resource"]:
            # Optuna would build no bracket and fail at the first report (division by zero).
            raise ValueError(
                f"config key {key('max_resource')}: {max_resource} is below "
                f"min_resource {out['min_resource']} ({key('min_resource')})"
            )
        return {
            **out,
            "max_resource": max_resource if max_resource == "auto" else int(max_resource),
        }
    if name == "none":
        return {"name": name}
    raise ValueError(
        f"config key {key('name')}: unknown pruner {name!r} "
        "(median | hyperband | successive_halving | none)"
    )


def make_pruner(cfg: dict, steps: int | None = None):
    """The configured Optuna pruner. A step is the training resource a model reports (epochs,
    blocks of boosting rounds; ``uhecr.models``): Hyperband and successive halving compare trials
    at rungs of min_resource x reduction_factor^k such steps. ``steps``: see
    ``resolve_pruner``."""
    cfg = resolve_pruner(cfg, steps)
    if cfg["name"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg["n_startup_trials"], n_warmup_steps=cfg["n_warmup_steps"]
        )
    if cfg["name"] == "hyperband":
        return SlotHyperbandPruner(
            min_resource=cfg["min_resource"],
            max_resource=cfg["max_resource"],
            reduction_factor=cfg["reduction_factor"],
        )
    if cfg["name"] == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=cfg["min_resource"], reduction_factor=cfg["reduction_factor"]
        )
    return optuna.pruners.NopPruner()

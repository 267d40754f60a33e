"""Search-space notation of the reference study, parsed without heavy imports (the Snakefile
validates every space at start-up with it).

``loguniform(a, b)``, ``uniform(a, b)``, ``choice([...])``, ``range(a, b)`` (Python range: ``b``
excluded); ``true``/``false``/``null`` are accepted as in YAML. Structured forms:

* conditional: ``{distribution: "range(2, 5)", when: {kernel: poly}}``;
* layer sizes: ``{layers: "range(2, 5)", units: "range(2, 20)"}`` -> a list of ``layers`` sizes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

_LITERAL_NAMES = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}


class _Literals(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id in _LITERAL_NAMES:
            return ast.copy_location(ast.Constant(_LITERAL_NAMES[node.id]), node)
        return node


@dataclass(frozen=True)
class Distribution:
    kind: str
    args: tuple

    def suggest(self, trial, name: str):
        if self.kind == "loguniform":
            return trial.suggest_float(name, float(self.args[0]), float(self.args[1]), log=True)
        if self.kind == "uniform":
            return trial.suggest_float(name, float(self.args[0]), float(self.args[1]))
        if self.kind == "range":
            return trial.suggest_int(name, int(self.args[0]), int(self.args[1]) - 1)
        return trial.suggest_categorical(name, list(self.args[0]))


def parse_distribution(text: str, key: str) -> Distribution:
    """Parse one notation string; errors name the config key."""
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError("not a call")
        kind = node.func.id
        args = tuple(ast.literal_eval(_Literals().visit(a)) for a in node.args)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"config key {key}: cannot parse search space {text!r} ({exc})") from exc
    expected = {"loguniform": 2, "uniform": 2, "range": 2, "choice": 1}
    if kind not in expected:
        raise ValueError(
            f"config key {key}: unknown distribution {kind!r}; use one of {sorted(expected)}"
        )
    if len(args) != expected[kind]:
        raise ValueError(
            f"config key {key}: {kind} takes {expected[kind]} argument(s), got {len(args)}"
        )
    if kind == "choice" and (not isinstance(args[0], list | tuple) or not args[0]):
        raise ValueError(f"config key {key}: choice needs a non-empty list")
    if kind in ("loguniform", "uniform", "range") and not args[0] < args[1]:
        raise ValueError(f"config key {key}: {kind}({args[0]}, {args[1]}) is empty")
    if kind == "loguniform" and args[0] <= 0:
        raise ValueError(f"config key {key}: loguniform needs a positive lower bound")
    return Distribution(kind, args)


def parse_space(space: dict, model: str) -> dict:
    """Parse a model's space; an entry set to null (e.g. by a config overlay, which cannot
    delete a key) is not searched. Parameters come in name order: the sampler draws them in
    that order from one random stream, so the order of the keys in a YAML file (which a
    rewritten or merged config need not keep) must not change which values a trial gets."""
    parsed = {}
    for name, spec in sorted(space.items()):
        if spec is None:
            continue
        key = f"models.{model}.space.{name}"
        if isinstance(spec, dict):
            forms = ({"layers", "units"}, {"distribution", "when"}, {"distribution"})
            if set(spec) not in forms:
                raise ValueError(
                    f"config key {key}: a structured space has the keys "
                    f"{{layers, units}} or {{distribution, when}}, got {sorted(spec)}"
                )
        if isinstance(spec, dict) and "layers" in spec:
            parsed[name] = (
                "layers",
                parse_distribution(spec["layers"], key + ".layers"),
                parse_distribution(spec["units"], key + ".units"),
            )
        elif isinstance(spec, dict):
            parsed[name] = (
                "when",
                parse_distribution(spec["distribution"], key + ".distribution"),
                dict(spec.get("when", {})),
            )
        else:
            parsed[name] = ("plain", parse_distribution(spec, key))
    _check_conditions(parsed, model)
    return parsed


def _check_conditions(parsed: dict, model: str) -> None:
    """A condition must name a plain searched parameter and a value it can take: otherwise the
    conditional parameter would silently never (or always) be searched."""
    for name, spec in parsed.items():
        if spec[0] != "when":
            continue
        for other, value in spec[2].items():
            key = f"models.{model}.space.{name}.when.{other}"
            target = parsed.get(other)
            if target is None or target[0] != "plain":
                raise ValueError(f"config key {key}: {other!r} is not a plain searched parameter")
            dist = target[1]
            if dist.kind == "choice" and value not in dist.args[0]:
                raise ValueError(
                    f"config key {key}: {value!r} is not one of the choices {list(dist.args[0])}"
                )


def suggest(trial, space: dict) -> dict:
    params = {}
    for name, spec in space.items():
        if spec[0] == "plain":
            params[name] = spec[1].suggest(trial, name)
    for name, spec in space.items():
        if spec[0] == "when" and all(params.get(k) == v for k, v in spec[2].items()):
            params[name] = spec[1].suggest(trial, name)
        elif spec[0] == "layers":
            n = spec[1].suggest(trial, f"{name}_layers")
            params[name] = [spec[2].suggest(trial, f"{name}_{i}") for i in range(n)]
    return params


def validate_spaces(models_cfg: dict) -> None:
    """Parse every enabled model's space and check its parameter names; raises ValueError
    naming the config key. A parameter both searched and fixed would be sampled, recorded and
    plotted but never used (fixed wins), and an unknown name would be silently ignored."""
    from uhecr.models import PARAMETERS

    for name in models_cfg["enabled"]:
        cfg = models_cfg[name]
        parse_space(cfg["space"], name)
        searched = {k for k, v in cfg["space"].items() if v is not None}
        both = sorted(searched & set(cfg.get("fixed", {})))
        if both:
            raise ValueError(
                f"config keys models.{name}.space and models.{name}.fixed both set {both}: "
                "a parameter is either searched or fixed (an overlay merges dicts: to fix a "
                "searched parameter, also set it to null in the space)"
            )
        for section in ("space", "fixed"):
            unknown = sorted(set(cfg.get(section, {})) - PARAMETERS[name])
            if unknown:
                raise ValueError(
                    f"config key models.{name}.{section}: unknown parameter(s) {unknown}; "
                    f"{name} reads {sorted(PARAMETERS[name])}"
                )

"""Dataclass configurations from YAML-shaped dicts and back, shared by the task, training and
autotune configs: unknown keys are errors that name the known ones, lists become tuples, YAML
integers fill float fields, and nested dataclasses are overridden field by field."""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any


def plain(x):
    """Tuples to lists, recursively (what ``yaml.safe_dump`` and JSON accept)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def config_from_dict(cls, data: dict[str, Any], base=None, where: str = "config"):
    """Build dataclass ``cls`` from ``data`` over ``base`` (its defaults), recursively; unknown
    keys raise an error naming them."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")  # noqa: TRY004 (a user error)
    base = base if base is not None else cls()
    names = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    out = {}
    for k, v in data.items():
        current = getattr(base, k)
        if is_dataclass(current):
            v = config_from_dict(type(current), v or {}, current, f"{where}.{k}")
        elif isinstance(current, tuple) or isinstance(v, list):
            v = tuple(v)
        elif isinstance(current, float) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out[k] = v
    return replace(base, **out)

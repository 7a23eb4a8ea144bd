"""Load and merge YAML config files and ``--set`` overrides into a validated :class:`SeglibConfig`.

The default configuration ships inside the package (``seglib/config/defaults/``; the repo's ``conf/`` links to the
same files): :data:`DEFAULT_CONFIG` is what ``seg`` loads without ``--config``. A file name ``seglib:<name>.yaml``, in
``--config`` or in ``extends``, names one of those packaged files, so an overlay outside the repo can
``extends: seglib:base.yaml``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from seglib.config.models import SeglibConfig

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
DEFAULT_CONFIG = DEFAULTS_DIR / "local.yaml"
PACKAGED_PREFIX = "seglib:"


class ConfigError(ValueError):
    """A configuration problem, with a message that names the file and the dotted key."""


def _locate(name: str | Path, relative_to: Path | None = None) -> Path:
    """``seglib:<name>`` -> the packaged default file; else the path (relative to ``relative_to`` when given)."""
    text = str(name)
    if text.startswith(PACKAGED_PREFIX):
        return DEFAULTS_DIR / text.removeprefix(PACKAGED_PREFIX)
    return relative_to / text if relative_to is not None else Path(text)


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"config 'extends' cycle: {' -> '.join(str(p) for p in (*seen, path))}")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    parents = data.pop("extends", None) or []
    merged: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        merged = deep_merge(merged, _read_yaml(_locate(parent, path.parent), (*seen, path)))
    return deep_merge(merged, data)


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; mappings merge key by key, anything else in ``overlay`` replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> dict[str, Any]:
    """``a.b.c=value`` -> ``{"a": {"b": {"c": value}}}`` with ``value`` parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"--set expects key.path=value, got {text!r}")
    dotted, raw = text.split("=", 1)
    keys = [k.strip() for k in dotted.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"--set has an empty key segment in {dotted!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    # Keep paths and other plain words as strings; YAML would turn e.g. "on" into True otherwise.
    if isinstance(value, bool) and raw.strip().lower() not in {"true", "false"}:
        value = raw
    nested: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        nested = {key: nested}
    return nested


def _format_errors(exc: ValidationError, sources: str) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"  unknown key '{where}'")
        else:
            lines.append(f"  '{where}': {err['msg']} (got {err.get('input')!r})")
    return f"invalid configuration ({sources}):\n" + "\n".join(lines)


def load_config(files: Iterable[str | Path] = (), overrides: Iterable[str] = ()) -> SeglibConfig:
    """Merge files then overrides, validate once, and return the typed config.

    No files: the models' defaults alone (no ingest rules, currencies or rule families); the ``seg`` CLI passes
    :data:`DEFAULT_CONFIG` instead when no ``--config`` is given.
    """
    data: dict[str, Any] = {}
    file_list = [_locate(f) for f in files]
    for path in file_list:
        data = deep_merge(data, _read_yaml(path))
    override_list = list(overrides)
    for text in override_list:
        data = deep_merge(data, parse_override(text))
    sources = ", ".join([str(p) for p in file_list] + [f"--set {o}" for o in override_list]) or "defaults"
    try:
        return SeglibConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, sources)) from None

"""Loading a strict pydantic config model from a YAML file, with precise errors a technician can act on.

Edge and HQ configs fail the same way: the message names the file, then every bad field with its
line in the file and, for a misspelt name, the closest valid one::

    /etc/loaxa/node.yaml: 2 problem(s):
      line 19: broker.keepalive: unknown setting; did you mean `keepalive_s`?
      line 4: node.id: 'Loa 1' is not a valid id …

so all problems are fixed in one go instead of one per restart. Messages go through the technician's
language (:mod:`loaxa_common.cli_text`); pydantic's own English text is kept for rare error kinds.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from loaxa_common.cli_text import _

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class ConfigError(ValueError):
    """A config file is missing, unreadable or invalid; the message names file, field and problem."""


class YamlMapping(dict[str, Any]):
    """The top-level mapping of a YAML file, with the line of every key (``lines[("broker", "port")]``)."""

    lines: dict[Loc, int]


def _index_lines(node: yaml.Node, prefix: Loc, lines: dict[Loc, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                loc = (*prefix, key.value)
                lines[loc] = key.start_mark.line + 1
                _index_lines(value, loc, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*prefix, i)] = item.start_mark.line + 1
            _index_lines(item, (*prefix, i), lines)


def read_yaml_mapping(path: Path) -> YamlMapping:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except FileNotFoundError as err:
        raise ConfigError(_("{path}: config file not found").format(path=path)) from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(_("{path}: not valid YAML: {error}").format(path=path, error=err)) from err
    if not isinstance(data, dict):
        raise ConfigError(_("{path}: top level must be a mapping of sections, got {kind}")
                          .format(path=path, kind=type(data).__name__))
    mapping = YamlMapping(data)
    mapping.lines = {}
    if root is not None:
        _index_lines(root, (), mapping.lines)
    return mapping


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``annotation`` (``Section``, ``Section | None``, ``list[Section]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, tuple, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found is not None:
                return found
    return None


def fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the section at ``loc`` (list indexes skipped); [] when ``loc`` leaves the models."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current else None
        current = _submodel(field.annotation) if field else None
        if current is None:
            return []
    return list(current.model_fields) if current else []


def suggest(name: str, candidates: list[str]) -> str | None:
    """The closest valid name to a misspelt one (``keepalive`` → ``keepalive_s``), if any is close."""
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not matches:  # a missing unit suffix or prefix: "keepalive" for "keepalive_s"
        matches = [c for c in candidates if c.startswith(name) or name.startswith(c)][:1]
    return matches[0] if matches else None


def _problem(model: type[BaseModel], e: ErrorDetails) -> str:
    loc: Loc = tuple(e["loc"])
    kind, ctx = e["type"], e.get("ctx") or {}
    if kind == "extra_forbidden":
        hint = suggest(str(loc[-1]), fields_at(model, loc[:-1]))
        text = _("unknown setting")
        return text + ("; " + _("did you mean `{name}`?").format(name=hint) if hint else "")
    if kind == "missing":
        return _("required setting is missing")
    if kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        words = {"less_than_equal": _("at most {limit}"), "greater_than_equal": _("at least {limit}"),
                 "less_than": _("less than {limit}"), "greater_than": _("more than {limit}")}[kind]
        limit = next(iter(ctx.values()), "?")
        return _("{value!r} is out of range: must be {rule}").format(value=e.get("input"),
                                                                      rule=words.format(limit=limit))
    if kind == "literal_error":
        return _("{value!r} is not one of: {allowed}").format(value=e.get("input"), allowed=ctx.get("expected", "?"))
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type"):
        return _("{value!r} is not a number").format(value=e.get("input"))
    if kind in ("bool_parsing", "bool_type"):
        return _("{value!r} is not true/false").format(value=e.get("input"))
    if kind in ("model_type", "dict_type"):
        return _("must be a section (indented key: value lines)")
    if kind == "list_type":
        return _("must be a list ([a, b] or lines starting with '- ')")
    return str(e["msg"]).removeprefix("Value error, ")


def describe_config_error(model: type[BaseModel], err: ValidationError, source: str,
                          lines: dict[Loc, int] | None = None) -> str:
    """One line per problem: ``line N: field.path: what is wrong`` (line when the key is in the file)."""
    found: list[tuple[int, str]] = []
    for e in err.errors(include_url=False):
        loc: Loc = tuple(e["loc"])
        field = ".".join(str(p) for p in loc) or _("(top level)")
        line = None
        if lines:  # the key itself, else the nearest enclosing key that is in the file
            line = next((lines[loc[:i]] for i in range(len(loc), 0, -1) if loc[:i] in lines), None)
        where = _("line {n}").format(n=line) + ": " if line else ""
        found.append((line or 10**9, f"  {where}{field}: {_problem(model, e)}"))
    out = [text for _line, text in sorted(found, key=lambda f: f[0])]
    head = _("{source}: {n} problem(s):").format(source=source, n=len(out))
    return "\n".join([head, *out])


def validate_config(model: type[M], data: object, source: str) -> M:
    if not isinstance(data, dict):
        raise ConfigError(_("{path}: top level must be a mapping of sections, got {kind}")
                          .format(path=source, kind=type(data).__name__))
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_config_error(model, err, source, getattr(data, "lines", None))) from err

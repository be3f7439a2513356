"""The scenario field reference (docs/scenario-reference.md), generated from the spec's models so
that it cannot drift from what the loader accepts."""
from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from harness.scenarios import spec

MODELS: tuple[type[BaseModel], ...] = (
    spec.ScenarioFile, spec.Scenario, spec.InlineFixture, spec.Options, spec.Step, spec.Request, spec.Fault,
    spec.LoadStep, spec.LeakStep, spec.Expect, spec.ResponseExpect, spec.LogPattern, spec.WorkerExpect,
    spec.RedisExpect, spec.RouteExpect, spec.ConnectionsExpect, spec.DnsExpect, spec.MetricsExpect,
    spec.LoadExpect,
)
SHORTHANDS = {
    "Request": "a string `METHOD /path` is a request with no other field",
    "Fault": "a string `kind` is a fault with no other field; `fault:` also takes a list",
    "LogPattern": "a string is a pattern with no other field; `/.../` is a regex",
}


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Union or str(origin) == "types.UnionType":
        return " or ".join(type_name(a) for a in args if a is not type(None)) + (
            " (optional)" if type(None) in args else "")
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map {type_name(args[0])} → {type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if isinstance(annotation, typing.ForwardRef):
        return f"[{annotation.__forward_arg__}](#{annotation.__forward_arg__.lower()})"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")


def default_text(field: Any) -> str:
    if field.default is PydanticUndefined:
        if field.default_factory is None:
            return "required"
        value = field.default_factory()
        return "`{}`" if isinstance(value, BaseModel) else f"`{value!r}`"
    return "" if field.default is None else f"`{field.default!r}`"


def reference_markdown() -> str:
    out = ["# Scenario field reference", "",
           "Generated from `harness/scenarios/spec.py` by `harness scenario-reference`; a unit test keeps it "
           "current. How to write scenarios: [scenarios.md](scenarios.md).", ""]
    for model in MODELS:
        out += [f"## {model.__name__}", "", " ".join((model.__doc__ or "").split()), ""]
        if model.__name__ in SHORTHANDS:
            out += [f"Shorthand: {SHORTHANDS[model.__name__]}.", ""]
        out += ["| field | type | default | meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            desc = (field.description or "").replace("|", "\\|")
            out.append(f"| `{name}` | {type_name(field.annotation)} | {default_text(field)} | {desc} |")
        out.append("")
    return "\n".join(out)

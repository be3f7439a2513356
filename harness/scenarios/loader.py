"""Read a scenario file: YAML with the line of every node kept, validated against the spec; an error
names the file and line of the offending field."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import ValidationError

from harness.errors import HarnessError
from harness.scenarios.spec import Scenario, ScenarioFile

SUFFIXES = (".scenario.yaml", ".scenario.yml")
Loc = tuple[Union[str, int], ...]


class ScenarioSpecError(HarnessError):
    """A scenario file is not valid YAML or does not follow the format; the message has file:line."""


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    line: int  # where the scenario starts in its file


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def _plain(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    """The Python value of ``node``; ``lines`` gets the 1-based line of every mapping key and item."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, loc + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, loc + (i,), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


_CONSTRUCTOR = yaml.SafeLoader("")  # only its scalar construction is used


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ScenarioSpecError(f"line {node.start_mark.line + 1}: a mapping key must be a plain value")
    return _CONSTRUCTOR.construct_object(node)


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _where(loc: Loc) -> str:
    return ".".join(str(part) for part in loc if not str(part).startswith(("function-", "tagged-")))


def load_file(path: Path) -> list[LoadedScenario]:
    """Every scenario in ``path``; :class:`ScenarioSpecError` (file:line: what, how to fix) if invalid."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioSpecError(f"{path}: cannot read the scenario file: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioSpecError(f"{path}:{line}: not valid YAML: {problem}") from None
    if node is None:
        raise ScenarioSpecError(f"{path}:1: the file is empty: write a scenario (see docs/scenarios.md)")
    lines: dict[Loc, int] = {}
    data = _plain(node, (), lines)
    wrapped = isinstance(data, dict) and "scenarios" in data
    if not wrapped:
        data = {"scenarios": [data]}
        lines = {("scenarios", 0) + k: v for k, v in lines.items()}
        lines[("scenarios",)] = lines[("scenarios", 0)] = node.start_mark.line + 1
    try:
        parsed = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field '{loc[-1]}' (see docs/scenario-reference.md for the fields)"
        elif first["type"] == "missing":
            message = f"'{loc[-1]}' is required"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        where = _where(loc if wrapped else loc[2:]) or "scenario"
        raise ScenarioSpecError(f"{path}:{_line_of(loc, lines)}: {where}: {message}{more}",
                                str(exc)) from None
    return [LoadedScenario(s, path, _line_of(("scenarios", i), lines)) for i, s in enumerate(parsed.scenarios)]

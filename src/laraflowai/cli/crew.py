"""`laraflowai crew FILE`: run a crew described in a YAML or TOML file, printing
each task's answer live, labelled by task and agent.

    mode: sequential            # or parallel
    max_parallel_tasks: 2       # parallel only (default: every task at once)
    agents:
      - name: editor            # how tasks name it (default: its role)
        role: Editor
        goal: Review content
        provider: openai        # optional, like model, backstory, base_url,
        temperature: 0.2        # temperature and max_tokens
        options: {top_p: 0.9}   # optional: any other option for the provider
    tasks:
      - Write an article about Laravel     # a description alone
      - description: Review the article
        agent: editor                      # optional
        context: Keep it short.            # optional: a string or a list
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any, TextIO

import yaml

from .._exceptions import ConfigurationError
from .._secrets import redact
from ..crew import Agent, Crew, CrewEvent, CrewResult, Task

__all__ = ["add_crew_command", "load_crew", "print_crew", "run_crew"]

_TOP_KEYS = ("agents", "max_parallel_tasks", "mode", "tasks")
_AGENT_KEYS = (
    "backstory",
    "base_url",
    "goal",
    "max_tokens",
    "model",
    "name",
    "options",
    "provider",
    "role",
    "temperature",
)
_AGENT_OPTIONS = ("backstory", "base_url", "temperature", "max_tokens")
_TASK_KEYS = ("agent", "context", "description")


def add_crew_command(commands: Any) -> None:
    """Register `crew` on the `laraflowai` command's subparsers."""
    crew = commands.add_parser(
        "crew", help="run a crew from a YAML or TOML file, streaming each task"
    )
    crew.add_argument("file", help="the crew: agents, tasks and mode (.yaml, .yml or .toml)")
    crew.add_argument("--reasoning", action="store_true", help="show reasoning on stderr")
    crew.add_argument("--stats", action="store_true", help="print each task's time and usage")


def run_crew(args: argparse.Namespace) -> int:
    crew = load_crew(Path(args.file))
    with closing(crew.stream()) as events:
        result = print_crew(events, len(crew.tasks), show_reasoning=args.reasoning)
    if args.stats:
        _print_stats(result, sys.stderr)
    failed = result.failed_task
    if failed is None:
        return 0
    sys.stdout.flush()
    sys.stderr.write(
        f"laraflowai: error: task {failed.index + 1} ({failed.agent.role}) failed: "
        f"{redact(str(result.error))}\n"
    )
    return 1


# --- the file -------------------------------------------------------------------------------------


def load_crew(path: Path) -> Crew:
    """The crew a file describes; any problem is a ConfigurationError naming
    the file and the place in it."""
    return _build(_read(path), str(path))


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigurationError(f"{path}: a crew file is YAML (.yaml, .yml) or TOML (.toml)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if suffix == ".toml":
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: expected agents and tasks at the top level")
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def _build(data: Mapping[str, Any], where: str) -> Crew:
    _check_keys(data, _TOP_KEYS, where)
    agents: dict[str, Agent] = {}
    for index, spec in enumerate(_entries(data, "agents", where)):
        name, agent = _agent(spec, f"{where}: agents[{index}]")
        if name in agents:
            raise ConfigurationError(
                f"{where}: agents[{index}]: another agent is already named {name!r}; "
                "give each a different name"
            )
        agents[name] = agent
    tasks = [
        _task(spec, agents, f"{where}: tasks[{index}]")
        for index, spec in enumerate(_entries(data, "tasks", where))
    ]
    try:
        return Crew(
            agents.values(),
            tasks,
            execution_mode=data.get("mode", "sequential"),
            max_parallel_tasks=data.get("max_parallel_tasks"),
        )
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc.message}") from None


def _entries(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    entries = data.get(key)
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{where}: '{key}' is missing: give a list of one or more {key}")
    return entries


def _check_keys(spec: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    unknown = sorted(str(key) for key in spec if key not in known)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key {unknown[0]!r} (known keys: {', '.join(known)})"
        )


def _agent(spec: Any, where: str) -> tuple[str, Agent]:
    if not isinstance(spec, dict):
        raise ConfigurationError(f"{where}: an agent is a table of role, goal, ...")
    _check_keys(spec, _AGENT_KEYS, where)
    for required in ("role", "goal"):
        if required not in spec:
            raise ConfigurationError(f"{where}: '{required}' is missing")
    options = spec.get("options", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"{where}: 'options' must be a table of provider options")
    options = dict(options)
    options.update((key, spec[key]) for key in _AGENT_OPTIONS if key in spec)
    try:
        agent = Agent(
            spec["role"], spec["goal"], spec.get("provider"), spec.get("model"), **options
        )
    except (ConfigurationError, TypeError) as exc:
        raise ConfigurationError(f"{where}: {getattr(exc, 'message', exc)}") from None
    name = spec.get("name", agent.role)
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"{where}: 'name' must be a non-empty string")
    return name.strip(), agent


def _task(spec: Any, agents: Mapping[str, Agent], where: str) -> Task:
    if isinstance(spec, str):
        spec = {"description": spec}
    if not isinstance(spec, dict):
        raise ConfigurationError(f"{where}: a task is a description or a table of description, ...")
    _check_keys(spec, _TASK_KEYS, where)
    if "description" not in spec:
        raise ConfigurationError(f"{where}: 'description' is missing")
    agent = None
    if "agent" in spec:
        agent = agents.get(spec["agent"]) if isinstance(spec["agent"], str) else None
        if agent is None:
            raise ConfigurationError(
                f"{where}: no agent is named {spec['agent']!r} (the agents: {', '.join(agents)})"
            )
    try:
        return Task(spec["description"], agent=agent, context=spec.get("context"))
    except (ConfigurationError, TypeError) as exc:
        raise ConfigurationError(f"{where}: {getattr(exc, 'message', exc)}") from None


# --- the terminal ---------------------------------------------------------------------------------


class _Labelled:
    """Writes pieces of several tasks' text, starting a labelled line whenever
    the task changes, so interleaved parallel output stays readable."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.current: int | None = None

    def write(self, event: CrewEvent, text: str) -> None:
        if self.current != event.task_index:
            self.end_line()
            self.out.write(f"[{event.task_index + 1}/{self.total} {event.agent_role}] ")
            self.current = event.task_index
        self.out.write(text)
        self.out.flush()

    def end_line(self, index: int | None = None) -> None:
        if self.current is not None and index in (None, self.current):
            self.out.write("\n")
            self.out.flush()
            self.current = None


def print_crew(
    events: Iterable[CrewEvent],
    total: int,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    show_reasoning: bool = False,
) -> CrewResult:
    """Print every task's chunks as they arrive; return the crew's result."""
    answers = _Labelled(out or sys.stdout, total)
    thoughts = _Labelled(err or sys.stderr, total)
    for event in events:
        if event.kind == "chunk" and event.chunk:
            answers.write(event, event.chunk)
        elif event.kind == "reasoning" and show_reasoning and event.event is not None:
            thoughts.write(event, getattr(event.event, "text", ""))
        elif event.kind in ("task_complete", "task_error"):
            answers.end_line(event.task_index)
            thoughts.end_line(event.task_index)
        elif event.result is not None:
            answers.end_line()
            thoughts.end_line()
            return event.result
    raise RuntimeError("the crew's stream ended without a result")  # pragma: no cover


def _print_stats(result: CrewResult, err: TextIO) -> None:
    total = len(result.tasks)
    for task in result.tasks:
        parts = [task.status, f"{len(task.content)} chars", f"{task.execution_time:.3f} s"]
        if task.usage is not None:
            parts.append(f"tokens in/out {task.usage.input_tokens}/{task.usage.output_tokens}")
        err.write(f"[{task.index + 1}/{total} {task.agent.role}: {', '.join(parts)}]\n")
    summary = f"[crew: {total} tasks, {result.execution_time:.3f} s"
    if result.usage is not None:
        summary += f", tokens in/out {result.usage.input_tokens}/{result.usage.output_tokens}"
    err.write(summary + "]\n")
    err.flush()

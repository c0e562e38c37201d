"""Agents, tasks, and crews of agents working through tasks."""

from .agent import Agent
from .crew import Crew, ExecutionMode
from .events import CrewEvent, CrewEventKind
from .result import CrewResult, TaskResult, TaskStatus
from .task import Task

__all__ = [
    "Agent",
    "Crew",
    "CrewEvent",
    "CrewEventKind",
    "CrewResult",
    "ExecutionMode",
    "Task",
    "TaskResult",
    "TaskStatus",
]

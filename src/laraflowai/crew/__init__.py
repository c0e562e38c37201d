"""Agents and tasks (crews build on them)."""

from .agent import Agent
from .task import Task

__all__ = ["Agent", "Task"]

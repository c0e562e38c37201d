"""`laraflowai chat "..."` streams an answer; `laraflowai crew FILE` runs a crew;
`laraflowai serve` serves the chat page; `laraflowai config` shows the settings."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .._config import PROVIDER_ENV, Settings, get_settings
from .._exceptions import LaraFlowAIError
from .._secrets import mask, redact
from ..crew.agent import Agent
from ..providers import default_provider_name, provider_names
from .cache import add_cache_command, run_cache
from .crew import add_crew_command, run_crew
from .render import print_stats, print_stream
from .serve import add_serve_command, run_serve
from .worker import add_worker_command, run_worker

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _temperature(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laraflowai",
        description="Stream the answers of AI agents token by token.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    chat = commands.add_parser("chat", help="stream an agent's answer into the terminal")
    chat.add_argument("task", help="what the agent should do, e.g. 'Write a haiku about the sea'")
    chat.add_argument(
        "--provider",
        help=f"one of {', '.join(provider_names())} (default: LARAFLOWAI_DEFAULT_PROVIDER, "
        "else the first provider with a key set, else the embedded offline model)",
    )
    chat.add_argument("--model", help="the provider's model (default: <PROVIDER>_MODEL)")
    chat.add_argument("--role", default="Helpful Assistant", help="the agent's role")
    chat.add_argument("--goal", default="Answer clearly and concisely", help="the agent's goal")
    chat.add_argument("--base-url", help="the provider's base URL (proxies, compatible servers)")
    chat.add_argument("--max-tokens", type=_positive_int, help="limit the answer's length")
    chat.add_argument("--temperature", type=_temperature, help="sampling temperature")
    chat.add_argument("--reasoning", action="store_true", help="show the model's reasoning")
    chat.add_argument("--stats", action="store_true", help="print timing and token usage")
    chat.add_argument(
        "--no-cache", action="store_true", help="ask the provider even if the answer is cached"
    )

    add_crew_command(commands)
    add_serve_command(commands)
    add_worker_command(commands)
    add_cache_command(commands)

    config = commands.add_parser("config", help="print the effective settings, secrets hidden")
    config.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _chat(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    if args.max_tokens is not None:
        options["max_tokens"] = args.max_tokens
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if args.no_cache:
        options["cache"] = False
    agent = Agent(
        args.role, args.goal, args.provider, args.model, base_url=args.base_url, **options
    )
    with agent.stream(args.task) as response:
        try:
            print_stream(response, show_reasoning=args.reasoning)
        finally:
            if args.stats:
                print_stats(response)
    return 0


def _config(args: argparse.Namespace) -> int:
    settings = get_settings()
    rows = settings.described()
    providers = _providers(settings)
    if args.json:
        print(
            json.dumps(
                {
                    "settings": {name: value for name, value, _ in rows},
                    "providers": providers,
                    "default_provider": default_provider_name(settings),
                },
                indent=2,
            )
        )
        return 0
    width = max(len(name) for name, _, _ in rows)
    print("Streaming settings")
    for name, value, meaning in rows:
        print(f"  {name:<{width}}  {value or '(not set)':<10}  {meaning}")
    print("\nProviders")
    for name, info in providers.items():
        details = "  ".join(f"{key}={value}" for key, value in info.items())
        print(f"  {name:<9} {details}")
    print(f"\nDefault provider: {default_provider_name(settings)}")
    return 0


def _providers(settings: Settings) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = {}
    for name, prefix in PROVIDER_ENV.items():
        configured = settings.provider(name)
        result[name] = {
            f"{prefix}_API_KEY": mask(configured.api_key),
            f"{prefix}_MODEL": configured.model or "(default)",
            f"{prefix}_BASE_URL": configured.base_url or "(default)",
        }
    ollama = settings.provider("ollama")
    result["ollama"] = {
        "OLLAMA_API_KEY": mask(ollama.api_key),
        "OLLAMA_HOST": ollama.base_url or "(default)",
        "OLLAMA_MODEL": ollama.model or "(default)",
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "chat":
            return _chat(args)
        if args.command == "crew":
            return run_crew(args)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "worker":
            return run_worker(args)
        if args.command == "cache":
            return run_cache(args)
        return _config(args)
    except LaraFlowAIError as error:
        sys.stdout.flush()
        sys.stderr.write(f"\nlaraflowai: error: {redact(str(error))}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\nlaraflowai: stopped\n")
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

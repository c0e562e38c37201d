"""`laraflowai serve`: the chat page and the streaming API on uvicorn (or on
granian with `--server granian`, the `granian` extra).

Loopback only unless an API token is set: the streaming route would otherwise
let anyone who can reach the port spend the owner's provider credits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys
from typing import Any

from .._collector import tune_collector
from .._config import get_settings
from .._secrets import remember
from ..crew.agent import Agent
from ..providers import provider_names

__all__ = ["add_serve_command", "check_host", "run_serve"]

_INSTALL_HINT = 'laraflowai serve needs the web extra: pip install "laraflowai[web]"'
_GRANIAN_HINT = (
    'laraflowai serve --server granian needs the granian extra: pip install "laraflowai[granian]"'
)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(text)


def add_serve_command(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the chat page and the streaming API (SSE) on http://127.0.0.1:8000/",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; any other needs an API token)",
    )
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--provider",
        help=f"one of {', '.join(provider_names())} (default: LARAFLOWAI_DEFAULT_PROVIDER, "
        "else the first provider with a key set, else the embedded offline model)",
    )
    serve.add_argument("--model", help="the provider's model (default: <PROVIDER>_MODEL)")
    serve.add_argument("--role", default="Chat Assistant", help="the agent's role")
    serve.add_argument("--goal", default="Help users", help="the agent's goal")
    serve.add_argument("--base-url", help="the provider's base URL (proxies, compatible servers)")
    serve.add_argument(
        "--token",
        help="API token the API routes require (default: LARAFLOWAI_API_TOKEN, which keeps "
        "it out of the process list)",
    )
    serve.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="the HTTP server (default uvicorn; granian needs the granian extra and logs "
        "no requests)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )


def check_host(host: str, token: str | None) -> str | None:
    """Why `host` may not be served without a token, or None if it may."""
    if token or _is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without an API token: anyone who can reach it could "
        "use your model provider at your cost. Set LARAFLOWAI_API_TOKEN (or pass --token), "
        "or keep the default --host 127.0.0.1"
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    token = args.token or settings.env("LARAFLOWAI_API_TOKEN")
    remember(token)
    refusal = check_host(args.host, token)
    if refusal is not None:
        sys.stderr.write(f"laraflowai: error: {refusal}\n")
        return 1
    try:
        import uvicorn

        from ..web import QueryRedactingFilter, create_app
    except ImportError:
        sys.stderr.write(f"laraflowai: error: {_INSTALL_HINT}\n")
        return 1
    if args.server == "granian":
        try:
            import granian  # noqa: F401
        except ImportError:
            sys.stderr.write(f"laraflowai: error: {_GRANIAN_HINT}\n")
            return 1
    # Refuse a provider that cannot answer now, not on the first request.
    agent = Agent(args.role, args.goal, args.provider, args.model, base_url=args.base_url)
    app = create_app(
        settings,
        provider=agent.provider.name,
        model=args.model,
        role=args.role,
        goal=args.goal,
        base_url=args.base_url,
        token=token,
    )
    tune_collector(settings.gc_threshold)  # this process is ours: see laraflowai/_collector.py
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"laraflowai: chat on http://{shown}:{args.port}/ answered by "
        f"{agent.provider.name}/{agent.model}"
        + ("; the API needs the token (open the page and enter it)" if token else ""),
        flush=True,
    )
    if args.server == "granian":
        _serve_on_granian(app, args.host, args.port, args.log_level)
        return 0
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # WebSocket connections only for the builtin Pusher-protocol server.
        ws="websockets-sansio" if settings.websocket_enabled else "none",
        lifespan="on",
        server_header=False,
        # Open event streams would otherwise hold shutdown until they end.
        timeout_graceful_shutdown=3,
    )
    # After the Config: it is what sets up uvicorn's loggers.
    logging.getLogger("uvicorn.access").addFilter(QueryRedactingFilter())
    server = uvicorn.Server(config)
    # uvicorn re-raises Ctrl+C once it has shut down cleanly: that is a normal end here.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


def _serve_on_granian(app: Any, host: str, port: int, log_level: str) -> None:
    """granian's embedded server, in this process (the app is built here, from
    the command line), one worker, until SIGINT or SIGTERM."""
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server.embed import Server

    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        websockets=False,
        log_level=LogLevels(log_level),
        log_access=False,
    )

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.serve()

    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(serve())
    else:
        uvloop.run(serve())

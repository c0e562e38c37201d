"""Where Pusher (or a Pusher-compatible host) is, and the app's credentials,
from Laravel's variable names: PUSHER_APP_ID, PUSHER_APP_KEY, PUSHER_APP_SECRET,
PUSHER_APP_CLUSTER, PUSHER_HOST, PUSHER_PORT, PUSHER_SCHEME."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .._exceptions import ConfigurationError
from .._secrets import remember

__all__ = ["PusherCredentials"]

_CLUSTER = re.compile(r"^[a-z0-9-]{1,32}$")


@dataclass(frozen=True, slots=True)
class PusherCredentials:
    app_id: str
    key: str
    secret: str = field(repr=False)
    cluster: str = "mt1"
    host: str | None = None
    port: int | None = None
    scheme: str = "https"

    def __post_init__(self) -> None:
        for name in ("app_id", "key", "secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip() or value != value.strip():
                raise ConfigurationError(
                    f"the Pusher {name} must be a non-empty string without surrounding spaces "
                    f"(PUSHER_APP_{name.removeprefix('app_').upper()})"
                )
        if not _CLUSTER.match(self.cluster):
            raise ConfigurationError(
                f"PUSHER_APP_CLUSTER must be a cluster name such as 'eu' or 'mt1', "
                f"got {self.cluster!r}"
            )
        if self.scheme not in ("http", "https"):
            raise ConfigurationError(f"PUSHER_SCHEME must be http or https, got {self.scheme!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise ConfigurationError(f"PUSHER_PORT must be a port number, got {self.port!r}")
        remember(self.secret)

    @classmethod
    def from_env(cls, env: Callable[[str], str | None]) -> PusherCredentials:
        """From variables looked up by `env` (e.g. `Settings.env`); the error
        names every variable that is missing."""
        missing = [
            name
            for name in ("PUSHER_APP_ID", "PUSHER_APP_KEY", "PUSHER_APP_SECRET")
            if not (env(name) or "").strip()
        ]
        if missing:
            raise ConfigurationError(
                f"WebSocket delivery through Pusher needs {', '.join(missing)}: set "
                f"{'it' if len(missing) == 1 else 'them'} in the environment or a .env file"
            )
        port = (env("PUSHER_PORT") or "").strip()
        if port and not port.isdigit():
            raise ConfigurationError(f"PUSHER_PORT must be a port number, got {port!r}")
        return cls(
            app_id=(env("PUSHER_APP_ID") or "").strip(),
            key=(env("PUSHER_APP_KEY") or "").strip(),
            secret=(env("PUSHER_APP_SECRET") or "").strip(),
            cluster=(env("PUSHER_APP_CLUSTER") or "").strip().lower() or "mt1",
            host=(env("PUSHER_HOST") or "").strip() or None,
            port=int(port) if port else None,
            scheme=(env("PUSHER_SCHEME") or "").strip().lower() or "https",
        )

    @property
    def api_url(self) -> str:
        """The REST API's base URL, `/apps/<id>` included."""
        host = self.host or f"api-{self.cluster}.pusher.com"
        default = 443 if self.scheme == "https" else 80
        port = f":{self.port}" if self.port not in (None, default) else ""
        return f"{self.scheme}://{host}{port}/apps/{self.app_id}"

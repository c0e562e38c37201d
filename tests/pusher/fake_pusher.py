"""A stand-in for Pusher's HTTP API on loopback: it checks every request's
signature the way Pusher documents it (written here from the docs, not with
our signing code) and records the events it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakePusher:
    app_id: str
    key: str
    secret: str
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next, in order

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(f"/apps/{self.app_id}/events", self._events, methods=["POST"]),
                Route(f"/apps/{self.app_id}/batch_events", self._batch, methods=["POST"]),
            ]
        )

    async def _check(self, request: Request) -> tuple[dict[str, Any] | None, JSONResponse | None]:
        body = await request.body()
        query = dict(request.query_params)
        signature = query.pop("auth_signature", "")
        problems = []
        if query.get("auth_key") != self.key:
            problems.append("wrong auth_key")
        if query.get("auth_version") != "1.0":
            problems.append("auth_version is not 1.0")
        if abs(time.time() - int(query.get("auth_timestamp", "0"))) > 600:
            problems.append("timestamp outside the 600 s window")
        if query.get("body_md5") != hashlib.md5(body).hexdigest():
            problems.append("body_md5 does not match the body")
        signed = "\n".join(
            ["POST", request.url.path, urlencode(sorted((k.lower(), v) for k, v in query.items()))]
        )
        expected = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            problems.append("invalid signature")
        self.requests.append(request.url.path)
        if problems:
            self.refused.append("; ".join(problems))
            return None, JSONResponse({"error": "; ".join(problems)}, status_code=401)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return None, JSONResponse({"error": "try again"}, status_code=status)
        return json.loads(body), None

    async def _events(self, request: Request) -> JSONResponse:
        body, refusal = await self._check(request)
        if refusal is not None:
            return refusal
        assert body is not None
        for channel in body["channels"]:
            self._record(channel, body["name"], body["data"], batch=1)
        return JSONResponse({})

    async def _batch(self, request: Request) -> JSONResponse:
        body, refusal = await self._check(request)
        if refusal is not None:
            return refusal
        assert body is not None
        batch = body["batch"]
        if len(batch) > 10:
            return JSONResponse({"error": "batch too large"}, status_code=413)
        for event in batch:
            self._record(event["channel"], event["name"], event["data"], batch=len(batch))
        return JSONResponse({"batch": [{} for _ in batch]})

    def _record(self, channel: str, name: str, data: str, batch: int) -> None:
        if len(data.encode()) > 10_240:
            raise AssertionError(f"an event of {len(data.encode())} bytes reached Pusher")
        self.events.append({"channel": channel, "name": name, "data": data, "batch": batch})

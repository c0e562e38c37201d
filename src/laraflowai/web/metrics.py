"""What operators watch: Prometheus metrics and OpenTelemetry spans of the
streams the app serves. Both optional: the `metrics` extra (prometheus_client)
and the `otel` extra (opentelemetry-api; bring your own SDK and exporter).

    laraflowai_streams_active{provider,model}                  gauge
    laraflowai_streams_started_total{provider,model}           counter
    laraflowai_streams_completed_total{provider,model,outcome} counter (complete, stopped)
    laraflowai_streams_failed_total{provider,model,kind}       counter (the public error kind)
    laraflowai_time_to_first_chunk_seconds{provider,model}     histogram
    laraflowai_stream_duration_seconds{provider,model}         histogram
    laraflowai_tokens_total{provider,model,direction}          counter (input, output)

Each stream is also a span named `chat <model>` (kind CLIENT) with the GenAI
semantic conventions' attributes: https://opentelemetry.io/docs/specs/semconv/gen-ai/
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import ConfigurationError
from ..broadcast import Tap, tapped
from .auth import token_matches

__all__ = ["StreamMetrics"]

_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
_DURATION = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)


class StreamMetrics:
    """Metrics (and spans) of the streams a wrapped producer yields; `routes()`
    serves them at `/metrics` (with the API token when one is set)."""

    def __init__(self, *, token: str | None = None, tracer_provider: Any = None) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:
            raise ConfigurationError(
                'metrics need the metrics extra: pip install "laraflowai[metrics]"'
            ) from None
        self.registry = CollectorRegistry()
        labels = ("provider", "model")
        self.active = Gauge("laraflowai_streams_active", "Streams producing now.", labels,
                            registry=self.registry)  # fmt: skip
        self.started = Counter("laraflowai_streams_started", "Streams started.", labels,
                               registry=self.registry)  # fmt: skip
        self.completed = Counter(
            "laraflowai_streams_completed", "Streams that ended without an error.",
            (*labels, "outcome"), registry=self.registry,
        )  # fmt: skip
        self.failed = Counter("laraflowai_streams_failed", "Streams that ended with an error.",
                              (*labels, "kind"), registry=self.registry)  # fmt: skip
        self.first_chunk = Histogram(
            "laraflowai_time_to_first_chunk_seconds", "From the start to the first chunk.",
            labels, buckets=_LATENCY, registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram("laraflowai_stream_duration_seconds", "Whole streams.", labels,
                                  buckets=_DURATION, registry=self.registry)  # fmt: skip
        self.tokens = Counter("laraflowai_tokens", "Tokens the providers counted.",
                              (*labels, "direction"), registry=self.registry)  # fmt: skip
        self.token = token
        self._tracer = _tracer(tracer_provider)

    def observe(
        self, events: AsyncIterator[Mapping[str, Any]], provider: str, model: str
    ) -> AsyncIterator[Mapping[str, Any]]:
        """`events` (a stream's producer), recorded as they pass; its `cancel()`
        (a registry's way to stop a response at once) still reaches it."""
        return tapped(events, _Observation(self, (provider, model)))

    def _usage(self, labels: tuple[str, str], payload: Mapping[str, Any], span: Any) -> None:
        usage = payload.get("usage") or {}
        for direction, key in (("input", "input_tokens"), ("output", "output_tokens")):
            count = usage.get(key)
            if isinstance(count, int) and count >= 0:
                self.tokens.labels(*labels, direction).inc(count)
                if span is not None:
                    span.set_attribute(f"gen_ai.usage.{key}", count)
        finish = payload.get("finish_reason")
        if span is not None and isinstance(finish, str):
            span.set_attribute("gen_ai.response.finish_reasons", [finish])

    def routes(self) -> list[Route]:
        return [Route("/metrics", self.endpoint, methods=["GET"])]

    async def endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self.token is not None and not token_matches(self.token, request.headers):
            return Response("this server needs its API token\n", status_code=401,
                            headers={"WWW-Authenticate": 'Bearer realm="laraflowai"'})  # fmt: skip
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class _Observation(Tap):
    """One stream's metrics and span, recorded as its events pass."""

    __slots__ = ("metrics", "labels", "started", "span", "waiting", "outcome")

    def __init__(self, metrics: StreamMetrics, labels: tuple[str, str]) -> None:
        self.metrics = metrics
        self.labels = labels
        self.started = 0.0
        self.span: Any = None
        self.waiting = True  # for the first chunk
        self.outcome = "stopped"  # unless the producer reaches its end

    def begin(self) -> None:
        metrics, labels = self.metrics, self.labels
        self.started = time.monotonic()
        metrics.started.labels(*labels).inc()
        metrics.active.labels(*labels).inc()
        if metrics._tracer is not None:
            provider, model = labels
            self.span = metrics._tracer.start_span(
                f"chat {model}",
                kind=_CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": provider,
                    "gen_ai.request.model": model,
                },
            )

    def see(self, payload: Mapping[str, Any] | str) -> None:
        if self.waiting and (isinstance(payload, str) or payload.get("type") == "chunk"):
            self.waiting = False
            self.metrics.first_chunk.labels(*self.labels).observe(time.monotonic() - self.started)

    async def last(self, payload: Mapping[str, Any]) -> None:
        metrics, labels, span = self.metrics, self.labels, self.span
        if payload.get("type") == "complete":
            self.outcome = "stopped" if payload.get("stopped") else "complete"
            metrics._usage(labels, payload, span)
            return
        self.outcome = "error"
        kind = str(payload.get("kind", "internal"))
        metrics.failed.labels(*labels, kind).inc()
        if span is not None:
            span.set_attribute("error.type", kind)
            span.set_status(_ERROR, str(payload.get("message", "")))

    def done(self) -> None:
        metrics, labels = self.metrics, self.labels
        if self.outcome != "error":
            metrics.completed.labels(*labels, self.outcome).inc()
        metrics.active.labels(*labels).dec()
        metrics.duration.labels(*labels).observe(time.monotonic() - self.started)
        if self.span is not None:
            self.span.end()


def _tracer(provider: Any) -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("laraflowai", tracer_provider=provider)


try:  # the span constants, when OpenTelemetry is there
    from opentelemetry.trace import SpanKind, StatusCode

    _CLIENT: Any = SpanKind.CLIENT
    _ERROR: Any = StatusCode.ERROR
except ImportError:  # pragma: no cover
    _CLIENT = _ERROR = None

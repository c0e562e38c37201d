"""Prometheus metrics read back with prometheus_client's own parser, and the
OpenTelemetry spans seen by the SDK's in-memory exporter, for real streams
from the local provider server."""

from __future__ import annotations

from typing import Any

import pytest

from laraflowai import FlowAI
from laraflowai.broadcast import response_events
from tests.conftest import API_KEY, require
from tests.servers import ProviderServer, error_reply, openai_chunks, stream_reply

USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


@pytest.fixture
def spans() -> Any:
    require("opentelemetry.sdk", "spans are checked with the OpenTelemetry SDK (test extra)")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def samples(metrics: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(metrics.registry).decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def run(metrics: Any, agent: Any, task: str) -> list[Any]:
    stream = metrics.observe(response_events(agent.astream(task)), "openai", agent.model)
    return [payload async for payload in stream]


async def test_a_completed_and_a_failed_stream_are_counted_and_traced(
    server: ProviderServer, spans: Any, async_clients: None
) -> None:
    require("prometheus_client", "metrics come with the metrics extra")
    from laraflowai.web.metrics import StreamMetrics

    provider, exporter = spans
    metrics = StreamMetrics(tracer_provider=provider)
    FlowAI.configure(max_retries=0, cache_enabled=False)
    agent = FlowAI.agent("A", "B", "openai", base_url=f"{server.url}/v1", api_key=API_KEY)
    server.enqueue(stream_reply(openai_chunks(["Hi", " there"], usage=USAGE)))
    await run(metrics, agent, "Say hi")
    server.enqueue(error_reply(429, message="Rate limit reached", code="rate_limit_exceeded"))
    events = await run(metrics, agent, "Again")
    assert events[-1]["type"] == "error"

    found = samples(metrics)

    def value(name: str, **labels: str) -> float:
        labels = {"provider": "openai", "model": "gpt-4o-mini", **labels}
        return found[(name, tuple(sorted(labels.items())))]

    assert value("laraflowai_streams_started_total") == 2
    assert value("laraflowai_streams_completed_total", outcome="complete") == 1
    assert value("laraflowai_streams_failed_total", kind="rate_limit") == 1
    assert value("laraflowai_streams_active") == 0
    assert value("laraflowai_tokens_total", direction="input") == 11
    assert value("laraflowai_tokens_total", direction="output") == 3
    assert value("laraflowai_time_to_first_chunk_seconds_count") == 1
    assert value("laraflowai_stream_duration_seconds_count") == 2

    finished = exporter.get_finished_spans()
    assert [span.name for span in finished] == ["chat gpt-4o-mini"] * 2
    ok, failed = finished
    assert ok.attributes["gen_ai.operation.name"] == "chat"
    assert ok.attributes["gen_ai.provider.name"] == "openai"
    assert ok.attributes["gen_ai.usage.input_tokens"] == 11
    assert ok.attributes["gen_ai.usage.output_tokens"] == 3
    assert tuple(ok.attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert failed.attributes["error.type"] == "rate_limit"
    assert failed.status.status_code.name == "ERROR"


def test_the_app_serves_its_metrics_and_counts_its_sse_streams(server: ProviderServer) -> None:
    require("prometheus_client", "metrics come with the metrics extra")
    import httpx2
    from prometheus_client.parser import text_string_to_metric_families

    from laraflowai import Settings
    from laraflowai.web import create_app
    from tests.web.conftest import BASE_ENV
    from tests.web.servers import AppServer, read_sse

    server.enqueue(stream_reply(openai_chunks(["a", "b"], usage=USAGE)))
    settings = Settings.from_env({**BASE_ENV, "LARAFLOWAI_METRICS": "true"})
    app = AppServer(create_app(settings, provider="openai", base_url=f"{server.url}/v1",
                               api_key=API_KEY)).start()  # fmt: skip
    try:
        with httpx2.Client(timeout=10) as client:
            read_sse(client, f"{app.url}/api/stream-chat", params={"task": "Hi"})
            scraped = client.get(f"{app.url}/metrics")
    finally:
        app.stop()
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    completed = families["laraflowai_streams_completed"].samples
    assert [(s.labels["outcome"], s.value) for s in completed if s.name.endswith("_total")] == [
        ("complete", 1.0)
    ]
    tokens = {s.labels["direction"]: s.value for s in families["laraflowai_tokens"].samples
              if s.name.endswith("_total")}  # fmt: skip
    assert tokens == {"input": 11.0, "output": 3.0}

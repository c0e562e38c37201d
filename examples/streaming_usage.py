"""Every snippet of the LaraFlowAI streaming document, in Python.

    python examples/streaming_usage.py

With no provider key set, every agent here is the embedded offline model
(SmolLM2-135M): small and naive, but real tokens, streamed as they are made.
Set a key (OPENAI_API_KEY, ...) and the same code asks that provider. Each
section prints a header; `--quick` keeps the answers short (the CI run).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys

from laraflowai import FlowAI, LaraFlowAIError

log = logging.getLogger("examples")


def section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def agent_streaming(max_tokens: int) -> None:
    section("Agent streaming")
    agent = FlowAI.agent(role="Content Writer", goal="Create engaging content",
                         max_tokens=max_tokens)  # fmt: skip
    task = FlowAI.task("Write a blog post about Laravel")

    streaming_response = agent.stream(task)
    while streaming_response.has_more_chunks():  # one chunk at a time
        chunk = streaming_response.get_next_chunk()
        if chunk is not None:
            print(chunk, end="", flush=True)  # to the front end
    full_content = streaming_response.get_content()
    print(f"\n({len(full_content)} characters)")


def task_callback(max_tokens: int) -> None:
    section("Task streaming configuration")
    task = FlowAI.task("Explain AI concepts").stream(
        lambda chunk, full_content: print(
            f"Received: {chunk!r}  (total so far: {len(full_content)} chars)"
        )
    )
    agent = FlowAI.agent("AI Expert", "Explain concepts clearly", max_tokens=max_tokens)
    agent.stream(task).get_content()


def crew_streaming(max_tokens: int) -> None:
    section("Crew streaming")
    writer = FlowAI.agent("Writer", "Write content", max_tokens=max_tokens)
    editor = FlowAI.agent("Editor", "Review content", max_tokens=max_tokens)
    crew = (
        FlowAI.crew()
        .add_agent(writer)
        .add_agent(editor)
        .add_tasks([FlowAI.task("Write an article"), FlowAI.task("Review the article")])
    )
    for result in crew.stream():
        if result["is_streaming"] and not result["is_complete"]:
            print(f"Chunk: {result['chunk']!r}")
        elif result["is_complete"]:
            print(f"Task completed: {result['response'].get_content()!r}")


def response_api(max_tokens: int) -> None:
    section("StreamingResponse API")
    agent = FlowAI.agent("Helpful assistant", "Answer briefly", max_tokens=max_tokens)
    streaming_response = agent.stream("What is a token?")
    streaming_response.set_buffer_size(20)  # buffer management
    chunk = streaming_response.get_next_chunk()  # the next chunk
    print(f"first chunk: {chunk!r}")
    print(f"buffered, not handed out yet: {streaming_response.get_buffer()!r}")
    streaming_response.clear_buffer()  # released as the next chunk at once
    has_more = streaming_response.has_more_chunks()
    content = streaming_response.get_content()  # the whole answer
    regular_response = streaming_response.to_response()  # a plain Response
    stats = streaming_response.get_stats()
    print(f"has_more was {has_more}; {len(content)} chars; {regular_response!r}")
    print(f"stats: chunks={stats['chunk_count']}, output tokens={stats['output_tokens']}, "
          f"first chunk after {stats['time_to_first_chunk']} s")  # fmt: skip


def callbacks(max_tokens: int) -> None:
    section("Callback functions")
    agent = FlowAI.agent("Helpful assistant", "Answer briefly", max_tokens=max_tokens)
    streaming_response = agent.stream("Name three colours.")
    streaming_response.on_chunk(
        lambda chunk, full_content: print(
            f"New chunk: {chunk!r}  Progress: {len(full_content)} characters"
        )
    )
    streaming_response.get_content()


def performance(max_tokens: int) -> None:
    section("Performance: buffering and caching")
    agent = FlowAI.agent("Helpful assistant", "Answer briefly", max_tokens=max_tokens)
    prompt = "Give one tip for fast web pages."
    cache: dict[str, str] = {}  # stands for the document's Cache facade
    cache_key = "streaming_response_" + hashlib.md5(prompt.encode()).hexdigest()
    if cache_key in cache:
        print(cache[cache_key])
        return
    streaming_response = agent.stream(prompt).set_buffer_size(20)  # a larger buffer

    def keep(chunk: str, full_content: str) -> None:
        cache["streaming_partial"] = full_content  # intermediate results
        if streaming_response.is_complete():
            cache[cache_key] = full_content

    streaming_response.on_chunk(keep)
    print(streaming_response.get_content())
    # laraflowai also caches whole streams itself: an identical request within
    # LARAFLOWAI_STREAMING_CACHE_TTL is replayed without asking the provider.
    again = agent.stream(prompt)
    again.get_content()
    if streaming_response.finish_reason == "length":
        print("not replayed: an answer cut at max_tokens is never cached")
    else:
        print(f"replayed from laraflowai's stream cache: {again.get_stats()['cached']}")


def error_handling(max_tokens: int) -> None:
    section("Error handling")
    try:
        agent = FlowAI.agent("Helpful assistant", "Answer briefly", max_tokens=max_tokens)
        streaming_response = agent.stream("Say hello.")
        while streaming_response.has_more_chunks():
            chunk = streaming_response.get_next_chunk()
            if chunk is None:
                break  # an error or the end
            print(chunk, end="", flush=True)
        print()
        FlowAI.agent("Helpful assistant", "Answer briefly", provider="no-such-provider")
    except LaraFlowAIError as error:  # every laraflowai error; the text so far is kept
        log.error("Streaming error: %s", error)
        print(f"Error: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short answers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    max_tokens = 24 if args.quick else 200
    for example in (agent_streaming, task_callback, crew_streaming, response_api, callbacks,
                    performance, error_handling):  # fmt: skip
        example(max_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())

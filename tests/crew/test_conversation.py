"""Conversations in the Python API: `agent.stream(task, history=[...])` sends the
turns before the task, and a `Conversation` remembers each completed answer,
checked by what the real local provider server received.
Issue 17."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from laraflowai import Agent, ConfigurationError, InvalidRequestError, Task
from laraflowai.crew.conversation import DEFAULT_MAX_TURNS, Conversation
from tests.servers import ProviderServer, error_reply, openai_chunks, stream_reply

MakeAgent = Callable[..., Agent]

SYSTEM = {
    "role": "system",
    "content": "You are Content Writer. Your goal: Create engaging content.",
}


TOOL_ROLE = "history[1] has role 'tool'; the role must be one of user, assistant, system"


def sent_messages(server: ProviderServer, index: int = -1) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = server.requests[index].json()["messages"]
    return messages


async def read(response: Any, sync: bool) -> str:
    if sync:
        return str(response.get_content())
    return str(await response.get_content())


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_history_goes_between_the_system_message_and_the_task_in_order(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Ada."])))
    agent = make_agent()
    history = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
    ]

    stream = agent.stream if sync else agent.astream
    assert await read(stream("What is my name?", history=history), sync) == "Ada."

    assert sent_messages(server) == [
        SYSTEM,
        *history,
        {"role": "user", "content": "What is my name?"},
    ]


CONTENT = (
    "history[0] content must be a string (or, for a user message, a list of text and image parts)"
)


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("hello", "history must be a list of messages"),
        ({"role": "user", "content": "x"}, "history must be a list of messages"),
        ([("user", "x")], "history[0] must be a message"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "content": "x"}], TOOL_ROLE),
        ([{"role": "user", "content": 3}], f"{CONTENT}, not int"),
        ([{"role": "user"}], f"{CONTENT}, not NoneType"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}]}],
         f"{CONTENT}, not list"),
        ([{"role": "user", "content": [{"type": "video"}]}],
         "history[0] content[0] is not a content part"),
        ([{"role": "user", "content": "x", "name": "a"}], "history[0] has unknown key(s) 'name'"),
    ],
)  # fmt: skip
def test_bad_history_is_refused_naming_the_item_and_what_is_allowed(
    make_agent: MakeAgent, history: Any, message: str
) -> None:
    agent = make_agent()
    for stream in (agent.stream, agent.astream):
        with pytest.raises(ConfigurationError) as caught:
            stream("Hi", history=history)
        assert message in str(caught.value)


def test_history_is_copied_so_later_changes_do_not_reach_the_request(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(stream_reply(openai_chunks(["ok"])))
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"}]
    response = make_agent().stream("second", history=history)
    history[0]["content"] = "changed"
    history.append({"role": "user", "content": "extra"})
    response.get_content()
    assert [m["content"] for m in sent_messages(server)[1:]] == ["first", "one", "second"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_conversation_sends_each_completed_turn_with_the_next_task(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(
        stream_reply(openai_chunks(["Hello, ", "Ada!"])),
        stream_reply(openai_chunks(["Your name ", "is Ada."])),
    )
    conv = make_agent().conversation()
    stream = conv.stream if sync else conv.astream

    assert await read(stream("My name is Ada."), sync) == "Hello, Ada!"
    assert await read(stream(Task("What is my name?")), sync) == "Your name is Ada."

    assert sent_messages(server, 1) == [
        SYSTEM,
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello, Ada!"},
        {"role": "user", "content": "What is my name?"},
    ]
    assert conv.messages[-1] == {"role": "assistant", "content": "Your name is Ada."}
    assert len(conv) == 2


def test_a_failed_or_unfinished_answer_is_forgotten_with_its_question(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.enqueue(
        error_reply(400, message="bad request"),
        stream_reply(openai_chunks(["never ", "read"])),
        stream_reply(openai_chunks(["fine"])),
    )
    conv = make_agent().conversation()
    with pytest.raises(InvalidRequestError):
        conv.stream("fails").get_content()
    unread = conv.stream("closed early")
    unread.get_next_chunk()
    unread.close()
    assert conv.stream("third").get_content() == "fine"
    assert [m["content"] for m in sent_messages(server)[1:]] == ["third"]
    assert conv.messages == [
        {"role": "user", "content": "third"},
        {"role": "assistant", "content": "fine"},
    ]


def test_the_oldest_turns_are_dropped_first_and_system_messages_stay(
    server: ProviderServer, make_agent: MakeAgent
) -> None:
    server.set_handler(lambda request: stream_reply(openai_chunks([f"a{len(server.requests)}"])))
    rules = {"role": "system", "content": "Be brief."}
    conv = Conversation(make_agent(), [rules], max_turns=2)
    for number in range(1, 5):
        conv.stream(f"q{number}").get_content()

    assert [m["content"] for m in sent_messages(server)[1:]] == [
        "Be brief.",
        "q2",
        "a2",
        "q3",
        "a3",
        "q4",
    ]
    assert [m["content"] for m in conv.messages] == ["Be brief.", "q3", "a3", "q4", "a4"]
    conv.clear()
    assert conv.messages == [rules]
    assert Conversation(make_agent()).max_turns == DEFAULT_MAX_TURNS == 20
    with pytest.raises(ConfigurationError, match="max_turns must be a whole number"):
        Conversation(make_agent(), max_turns=-1)


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
async def test_a_whole_answer_takes_the_history_too(
    server: ProviderServer, make_agent: MakeAgent, sync: bool, async_clients: None
) -> None:
    server.enqueue(stream_reply(openai_chunks(["Ada."])))
    agent = make_agent()
    history = [{"role": "user", "content": "I am Ada."}, {"role": "assistant", "content": "Hi!"}]
    answer = (
        agent.handle("Who am I?", history=history)
        if sync
        else await agent.ahandle("Who am I?", history=history)
    )
    assert answer.content == "Ada."
    assert [m["content"] for m in sent_messages(server)[1:]] == ["I am Ada.", "Hi!", "Who am I?"]

"""An agent that calls tools while it streams, and an answer that streams as an
object: `python examples/tools_and_objects.py [provider]`.

Tools need a provider that calls functions (openai, anthropic, gemini, ollama,
or any OpenAI-compatible server through OPENAI_BASE_URL); the embedded offline
model cannot. Set the provider's key (e.g. OPENAI_API_KEY) first.
"""

from __future__ import annotations

import sys

from pydantic import BaseModel

from laraflowai import FlowAI, ToolCall, ToolResult, tool


def get_weather(city: str, unit: str = "celsius") -> dict[str, object]:
    """The current weather in a city.

    Args:
        city: The city's name, e.g. "Kyiv".
        unit: "celsius" or "fahrenheit".
    """
    return {"city": city, "temperature": 21 if unit == "celsius" else 70, "sky": "clear"}


@tool(requires_approval=True)
def book_table(restaurant: str, people: int) -> str:
    """Book a table at a restaurant."""
    return f"booked: {restaurant}, {people} people"


class Plan(BaseModel):
    city: str
    activities: list[str]


def main(provider: str) -> None:
    agent = FlowAI.agent(
        "Assistant",
        "Plan a day out",
        provider,
        tools=[get_weather, book_table],
        approve=lambda call: input(f"\nRun {call.name}({call.arguments})? [y/N] ") == "y",
        max_steps=5,
    )

    print("=== Tools ===")
    response = agent.stream("What is the weather in Kyiv, and book a table for two at Kanapa?")
    for event in response.events():
        if isinstance(event, ToolCall):
            print(f"\n[calling {event.name} {event.arguments}]")
        elif isinstance(event, ToolResult):
            print(f"[{event.name} -> {event.output}]")
    print(response.get_content())
    stats = response.get_stats()
    print(f"tools run: {stats['tool_results_count']}, tokens: {stats['total_tokens']}")

    print("=== Structured output ===")
    plan = FlowAI.agent("Planner", "Plan days out", provider).stream(
        "Plan a day in Lviv", output_type=Plan
    )
    for partial in plan.objects():
        print(partial)
    print(plan.get_object())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "openai")

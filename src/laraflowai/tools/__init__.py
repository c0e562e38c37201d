"""Tools: Python functions an agent's model may call while it streams.

@tool
def get_weather(city: str) -> str:
    '''The weather in a city.

    Args:
        city: The city's name, e.g. "Kyiv".
    '''
    ...

agent = FlowAI.agent("Assistant", "Help", tools=[get_weather], max_steps=5)
"""

from ._box import Approver, OnError, Toolbox
from ._tool import Tool, tool

__all__ = ["Approver", "OnError", "Tool", "Toolbox", "tool"]

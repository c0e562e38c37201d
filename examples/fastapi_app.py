"""FastAPI in ten lines: `uvicorn examples.fastapi_app:app`, then open
http://127.0.0.1:8000/chat?task=Hello (and the chat page at /laraflowai/)."""

from fastapi import FastAPI

from laraflowai import FlowAI
from laraflowai.frameworks.fastapi import mount, sse_response

app = FastAPI()
agent = FlowAI.agent("Chat Assistant", "Help users")


@app.get("/chat")
async def chat(task: str):  # type: ignore[no-untyped-def]
    return sse_response(agent.astream(task))


mount(app, "/laraflowai")  # the whole laraflowai app: page, SSE, crews, WebSocket, protocols

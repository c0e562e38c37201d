"""Flask in ten lines: `flask --app examples.flask_app run`, then open
http://127.0.0.1:5000/chat?task=Hello"""

from flask import Flask, request

from laraflowai import FlowAI
from laraflowai.frameworks.flask import sse_response

app = Flask(__name__)
agent = FlowAI.agent("Chat Assistant", "Help users")


@app.get("/chat")
def chat():  # type: ignore[no-untyped-def]
    return sse_response(agent.stream(request.args["task"]))

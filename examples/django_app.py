"""Django in one file: `uvicorn examples.django_app:app`, then open
http://127.0.0.1:8000/chat?task=Hello (and the document's route at /api/stream-chat)."""

from django.conf import settings

if not settings.configured:
    settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1", "localhost"],
                       SECRET_KEY="examples-only-not-a-secret", DEBUG=False)  # fmt: skip

from django.core.asgi import get_asgi_application
from django.urls import include, path

from laraflowai import FlowAI
from laraflowai.frameworks.django import settings as laraflowai_settings
from laraflowai.frameworks.django import sse_response

agent = FlowAI.agent("Chat Assistant", "Help users", settings=laraflowai_settings())


async def chat(request):  # type: ignore[no-untyped-def]
    return sse_response(agent.astream(request.GET["task"]))


urlpatterns = [path("chat", chat), path("api/", include("laraflowai.frameworks.django"))]
app = get_asgi_application()

"""The gateway's routes, mounted at /v1/ (OpenAI's and Anthropic's paths)."""

from __future__ import annotations

from django.urls import path, re_path

from aiconfig.gateway import anthropic_api, openai_api

app_name = "gateway"

urlpatterns = [
    path("chat/completions", openai_api.chat_completions, name="chat_completions"),
    path("models", openai_api.models, name="models"),
    path("images/generations", openai_api.images, name="images"),
    path("messages", anthropic_api.messages, name="messages"),
    # Anything else under /v1/: a 404 in OpenAI's format, not the dashboard's page.
    re_path(r"^.*$", openai_api.not_found, name="not_found"),
]

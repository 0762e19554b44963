"""What ships in the box: built-in providers, their models, and the built-in task types.

The names, env vars, default base URLs and model lists follow the original
per-task AI model assignment guide; seeding copies them into the database, where
they can be edited.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiconfig.enums import OutputKind, ProviderKind


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model a built-in provider offers and what it can do."""

    name: str
    text: bool = False
    image: bool = False
    structured: bool = False
    tools: bool = False
    notes: str = ""


def _chat(name: str, notes: str = "", *, structured: bool = True, tools: bool = True) -> ModelSpec:
    return ModelSpec(name, text=True, structured=structured, tools=tools, notes=notes)


def _image(name: str, notes: str = "") -> ModelSpec:
    return ModelSpec(name, image=True, notes=notes)


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A built-in provider and the env vars that configure it."""

    name: str
    label: str
    kind: str
    api_key_env: str
    base_url_env: str
    default_base_url: str
    key_required: bool
    default_text_model: str
    default_image_model: str
    pricing_id: str = ""
    self_hosted: bool = False
    models: tuple[ModelSpec, ...] = ()


BUILTIN_PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="openai",
        label="OpenAI",
        kind=ProviderKind.OPENAI,
        api_key_env="OPENAI_API_KEY",
        base_url_env="OPENAI_BASE_URL",
        default_base_url="https://api.openai.com/v1",
        key_required=True,
        default_text_model="gpt-4.1",
        default_image_model="dall-e-3",
        pricing_id="openai",
        models=(
            _image("dall-e-3", "Recommended for images (1024x1024)"),
            _image("dall-e-2", "Alternative image model"),
            _image("gpt-image-1", "Newer image model"),
            _chat("gpt-4.1", "Most capable"),
            _chat("gpt-4o", "Latest, cheaper"),
            _chat("gpt-4o-mini", "Fast and cheap"),
            # json_schema response formats need gpt-4o or later.
            _chat("gpt-3.5-turbo", "Legacy, cheap", structured=False),
        ),
    ),
    ProviderSpec(
        name="anthropic",
        label="Anthropic",
        kind=ProviderKind.ANTHROPIC,
        api_key_env="ANTHROPIC_API_KEY",
        base_url_env="ANTHROPIC_BASE_URL",
        default_base_url="https://api.anthropic.com",
        key_required=True,
        default_text_model="claude-3-5-sonnet-20241022",
        default_image_model="",
        pricing_id="anthropic",
        models=(
            _chat("claude-3-5-sonnet-20241022", "Recommended (best balance)"),
            _chat("claude-3-opus-20250219", "Most capable"),
            _chat("claude-3-sonnet-20240229", "Older, still good"),
            _chat("claude-3-haiku-20240307", "Fast and cheap"),
        ),
    ),
    ProviderSpec(
        name="gemini",
        label="Gemini (Google)",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        api_key_env="GEMINI_API_KEY",
        base_url_env="GEMINI_BASE_URL",
        # Google's OpenAI-compatible endpoint lives under /v1beta/; the path without
        # it answers 404, so the working address is the default.
        default_base_url="https://generativelanguage.googleapis.com/v1beta/openai/",
        key_required=True,
        default_text_model="gemini-2.0-flash",
        default_image_model="imagen-3.0-generate-002",
        pricing_id="google",
        models=(
            _chat("gemini-2.0-flash", "Latest, fast"),
            _chat("gemini-2.0-flash-exp", "Experimental"),
            _chat("gemini-1.5-pro", "Powerful"),
            _chat("gemini-1.5-flash", "Fast"),
            _image("imagen-3.0-generate-002", "Image generation"),
        ),
    ),
    ProviderSpec(
        name="ollama",
        label="Ollama (local)",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        api_key_env="",
        base_url_env="OLLAMA_BASE_URL",
        default_base_url="http://localhost:11434/v1",
        key_required=False,
        default_text_model="mistral",
        default_image_model="",
        self_hosted=True,
        models=(
            _chat("mistral", "Good balance"),
            _chat("llama2", "Meta's model", structured=False, tools=False),
            _chat("neural-chat", "Optimized for chat", structured=False, tools=False),
            _chat("dolphin-mixtral", "High quality", structured=False, tools=False),
        ),
    ),
    ProviderSpec(
        name="together",
        label="Together AI",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        api_key_env="TOGETHER_API_KEY",
        base_url_env="TOGETHER_BASE_URL",
        default_base_url="https://api.together.xyz/v1",
        key_required=True,
        default_text_model="meta-llama/Llama-3-70b-chat-hf",
        default_image_model="black-forest-labs/FLUX.1-schnell",
        pricing_id="together",
        models=(
            _chat("meta-llama/Llama-3-70b-chat-hf", structured=False, tools=False),
            _chat("mistralai/Mixtral-8x22B-Instruct", structured=False, tools=False),
            _image("black-forest-labs/FLUX.1-schnell", "Image generation"),
        ),
    ),
    ProviderSpec(
        name="openai-compatible",
        label="Custom OpenAI-compatible API",
        kind=ProviderKind.OPENAI_COMPATIBLE,
        api_key_env="OPENAI_COMPATIBLE_API_KEY",
        base_url_env="OPENAI_COMPATIBLE_BASE_URL",
        default_base_url="",
        key_required=True,
        default_text_model="",
        default_image_model="",
    ),
)

BUILTIN_PROVIDERS_BY_NAME: dict[str, ProviderSpec] = {p.name: p for p in BUILTIN_PROVIDERS}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A built-in task type and its out-of-the-box assignment ("All OpenAI")."""

    name: str
    output_kind: str
    description: str
    default_provider: str
    default_model: str
    timeout_seconds: float


BUILTIN_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("image", OutputKind.IMAGE, "Image generation", "openai", "dall-e-3", 120.0),
    TaskSpec(
        "text", OutputKind.TEXT, "Text generation (posts, slides, narration)", "openai",
        "gpt-4.1", 60.0,
    ),
    TaskSpec(
        "video-slides", OutputKind.STRUCTURED,
        "Video slides: a list of slides, each with an image prompt and narration",
        "openai", "gpt-4.1", 90.0,
    ),
    TaskSpec(
        "agent", OutputKind.TOOLS, "Agent LLM: reasoning with tool calls", "openai",
        "gpt-4.1", 90.0,
    ),
)  # fmt: skip

BUILTIN_TASKS_BY_NAME: dict[str, TaskSpec] = {t.name: t for t in BUILTIN_TASKS}

DEFAULT_TIMEOUT_SECONDS: dict[str, float] = {
    OutputKind.TEXT: 60.0,
    OutputKind.IMAGE: 120.0,
    OutputKind.STRUCTURED: 90.0,
    OutputKind.TOOLS: 90.0,
}

CAPABILITY_FOR_KIND: dict[str, str] = {
    OutputKind.TEXT: "text",
    OutputKind.IMAGE: "image",
    OutputKind.STRUCTURED: "structured",
    OutputKind.TOOLS: "tools",
}

CAPABILITY_WORDS: dict[str, str] = {
    "text": "generate text",
    "image": "generate images",
    "structured": "produce structured JSON",
    "tools": "chat with tool calls",
}


def task_env_prefix(task_name: str) -> str:
    """The env var prefix of a task: `video-slides` -> `AI_VIDEO_SLIDES`."""
    return "AI_" + task_name.upper().replace("-", "_")


def task_name_from_env(env_name: str) -> str:
    """The task name for an env var middle part: `VIDEO_SLIDES` -> `video-slides`."""
    return env_name.lower().replace("_", "-")

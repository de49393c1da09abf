"""Chat messages as the engine takes them: a list of {"role", "content": str}.

Gradio 6 Chatbot messages may carry `content` as a list of {"type": "text", "text": ...} blocks
(or a dict for files); everything is flattened to plain text before `apply_chat_template`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from writing.errors import EmptyPromptError, StudioError

ROLES = ("system", "user", "assistant")
Message = dict[str, str]


def content_text(content: Any) -> str:
    """Flatten Gradio/OpenAI style content (str, block list, dict) into text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        if "text" in content:
            return str(content["text"])
        return ""  # files, images: not for a text model
    if isinstance(content, Iterable):
        return "".join(content_text(part) for part in content)
    return str(content)


def clean_text(text: str) -> str:
    """Drop what cannot be encoded (lone surrogates) and control characters other than \\t \\n."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become '?'
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n" or ch == "\r").replace("\r\n", "\n")


def normalize(messages: Iterable[Mapping[str, Any]]) -> list[Message]:
    """Validate roles, flatten content, and refuse a conversation with nothing to answer."""
    result: list[Message] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise StudioError(f"message {index} must be a mapping with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise StudioError(f"message {index}: role must be one of {', '.join(ROLES)}, got {role!r}")
        result.append({"role": role, "content": clean_text(content_text(message.get("content")))})
    if not result or not any(m["role"] == "user" and m["content"].strip() for m in result):
        raise EmptyPromptError("The prompt is empty: write something for the model to answer.")
    return result

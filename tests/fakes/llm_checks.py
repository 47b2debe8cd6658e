"""What the real OpenAI, Anthropic and Gemini APIs refuse, checked by the fake (tests/fakes/llm_servers.py):
structured-output schemas they cannot use, ill-formed tools, and tool results that answer no call. Each
returns the API's reason (a 400 in the fake) or None."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.llm_servers import Behaviour


def openai_schema_problem(fmt: Any) -> str | None:
    """What the real API rejects in a json_schema response_format with strict: true."""
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema") or {}
    if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(spec.get("name") or "")):
        return "json_schema.name must be 1-64 letters, digits, _ or -"
    schema = spec.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "json_schema.schema must be an object schema"
    if spec.get("strict"):
        if schema.get("additionalProperties") is not False:
            return "'additionalProperties' is required to be supplied and to be false"
        if set(schema.get("required") or []) != set(schema.get("properties") or {}):
            return "'required' is required to include every key in properties"
    return None


_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _offered(names: list[Any], b: "Behaviour") -> str | None:
    """A scripted tool call must be one the request offered (a real model cannot call others)."""
    bad = [n for n, _ in b.tools if n not in names]
    return f"the fake was scripted to call {bad[0]!r}, which the request did not offer" if bad else None


def openai_tools_problem(body: dict, b: "Behaviour") -> str | None:
    """Ill-formed tools, or tool messages that do not answer the assistant message's tool_calls."""
    names = []
    for t in body.get("tools") or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(fn, dict) \
                or not _TOOL_NAME.fullmatch(str(fn.get("name") or "")) or (fn.get("parameters") or {}).get("type") != "object":
            return "Invalid 'tools': each must be {type: function, function: {name, parameters: object schema}}"
        names.append(fn["name"])
    waiting: set[str] = set()
    for m in body.get("messages") or []:
        if m.get("role") == "tool":
            if m.get("tool_call_id") not in waiting:
                return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
            waiting.discard(m["tool_call_id"])
            continue
        if waiting:
            return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'."
        waiting = {c.get("id") for c in m.get("tool_calls") or []}
    return _offered(names, b)


def anthropic_tools_problem(body: dict, b: "Behaviour") -> str | None:
    """Ill-formed tools, or tool_result blocks that do not answer the previous tool_use blocks."""
    names = []
    for t in body.get("tools") or []:
        if not isinstance(t, dict) or not _TOOL_NAME.fullmatch(str(t.get("name") or "")) \
                or (t.get("input_schema") or {}).get("type") != "object":
            return "tools: each tool needs a name and an input_schema of type object"
        names.append(t["name"])
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool") and not names:
        return "tool_choice may only be specified while providing tools"
    used: set[str] = set()
    for m in body.get("messages") or []:
        blocks = m.get("content") if isinstance(m.get("content"), list) else []
        results = {x.get("tool_use_id") for x in blocks if isinstance(x, dict) and x.get("type") == "tool_result"}
        if results and (m.get("role") != "user" or results != used):
            return "messages: tool_result blocks must answer the tool_use blocks of the previous assistant message"
        used = {x.get("id") for x in blocks if isinstance(x, dict) and x.get("type") == "tool_use"}
    return _offered(names, b)


def gemini_tools_problem(body: dict, b: "Behaviour") -> str | None:
    """Ill-formed functionDeclarations, JSON mode beside them, or a functionResponse without its call."""
    names = []
    for t in body.get("tools") or []:
        for d in (t.get("functionDeclarations") or []) if isinstance(t, dict) else [None]:
            if not isinstance(d, dict) or not _TOOL_NAME.fullmatch(str(d.get("name") or "")):
                return "Invalid JSON payload received. function_declarations: each needs a name"
            problem = gemini_schema_problem(d.get("parameters"))
            if problem:
                return problem
            names.append(d["name"])
    if names and (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
        return "Function calling with a response mime type: 'application/json' is unsupported"
    called: set[str] = set()
    for c in body.get("contents") or []:
        parts = c.get("parts") or []
        answered = {p["functionResponse"].get("name") for p in parts if isinstance(p, dict) and "functionResponse" in p}
        if answered and (c.get("role") != "user" or not answered <= called):
            return "Please ensure that function response turn comes immediately after a function call turn."
        called = {p["functionCall"].get("name") for p in parts if isinstance(p, dict) and "functionCall" in p}
    return _offered(names, b)


GEMINI_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
GEMINI_FIELDS = {"type", "format", "description", "nullable", "enum", "properties", "required", "items",
                 "propertyOrdering", "minItems", "maxItems", "minimum", "maximum", "anyOf", "title"}


def gemini_schema_problem(schema: Any) -> str | None:
    """What generateContent rejects in a responseSchema (its OpenAPI subset)."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        return "responseSchema must be an object"
    unknown = set(schema) - GEMINI_FIELDS
    if unknown:
        return f'Unknown name "{sorted(unknown)[0]}" at \'generation_config.response_schema\''
    if schema.get("type") not in GEMINI_TYPES:
        return f"Invalid value at 'generation_config.response_schema.type' ({schema.get('type')!r})"
    for sub in (schema.get("properties") or {}).values():
        problem = gemini_schema_problem(sub)
        if problem:
            return problem
    return gemini_schema_problem(schema["items"]) if "items" in schema else None

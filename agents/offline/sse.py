"""Encode an assistant message as the Messages API does: one JSON body, or an SSE event stream."""

from __future__ import annotations

import json
import uuid
from typing import Any


def message_body(model: str, content: list[dict[str, Any]], stop_reason: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": f"msg_offline_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def sse_events(body: dict[str, Any]) -> list[bytes]:
    """The event sequence for ``body``: message_start, per-block start/delta/stop, message_delta, message_stop."""
    usage = body["usage"]
    start = {**body, "content": [], "stop_reason": None,
             "usage": {**usage, "output_tokens": 1}}
    events = [_event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(body["content"]):
        if block["type"] == "text":
            events.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                         "content_block": {"type": "text", "text": ""}}))
            text = block["text"]
            for chunk_start in range(0, len(text), 200):
                events.append(_event("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": text[chunk_start:chunk_start + 200]}}))
        else:
            events.append(_event("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            events.append(_event("content_block_delta", {
                "type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(_event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": body["stop_reason"], "stop_sequence": None},
                                           "usage": {"output_tokens": usage["output_tokens"]}}))
    events.append(_event("message_stop", {"type": "message_stop"}))
    return events

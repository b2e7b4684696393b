"""The Slack Web API client: base URL from settings, slack_sdk's retry handlers for 429s, resets and 5xx.

Every Web API call goes through ``RedactingWebClient.api_call``: the one choke point where text and
blocks bound for Slack pass the product's redaction (configured secrets and token patterns), whatever
listener, notifier or Home view built them.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from storage.redaction import redact_value

# Arguments that are not message content: left as they are (they carry ids, the auth token, file bytes).
_UNTOUCHED = frozenset({"token", "channel", "channel_id", "ts", "thread_ts", "user", "users", "user_id",
                        "trigger_id", "view_id", "file",
                        "metadata"})  # our own post keys (the dedupe lookup must find them as written)


def _clean(args: Any) -> Any:
    if not isinstance(args, dict):
        return args
    return {k: v if k in _UNTOUCHED else redact_value(v) for k, v in args.items()}


class RedactingWebClient(AsyncWebClient):
    async def api_call(self, api_method: str, *, http_verb: str = "POST", files: dict[str, Any] | None = None,
                       data: Any = None, params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                       headers: dict[str, Any] | None = None, auth: dict[str, Any] | None = None,
                       ) -> AsyncSlackResponse:
        return await super().api_call(api_method, http_verb=http_verb, files=files, data=_clean(data),
                                      params=_clean(params), json=_clean(json), headers=headers, auth=auth)


def web_client(token: str, base_url: str) -> AsyncWebClient:
    return RedactingWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=15,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def post_once_client(client: AsyncWebClient) -> RedactingWebClient:
    """A copy of ``client`` for calls that must not be repeated blindly (``chat.postMessage``, file shares).

    It retries only 429s, which Slack answers before doing anything. A 5xx or a dropped connection may come
    after Slack already took the post, so those are raised to the caller, which looks for its message before
    posting again (a retry here would post it twice). It is still a ``RedactingWebClient``: every post,
    whichever client sends it, passes the redaction.
    """
    rate_limit_only: list[AsyncRetryHandler] = [
        h for h in client.retry_handlers if isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return RedactingWebClient(token=client.token, base_url=client.base_url, timeout=client.timeout, ssl=client.ssl,
                              proxy=client.proxy, headers=dict(client.headers), logger=client.logger,
                              retry_handlers=rate_limit_only)

"""Masking of secrets (passwords in storage URLs) in anything printed, logged or reported. Pure; no Optuna import."""

from __future__ import annotations

import re

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://\S+")


def mask_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`; also `?password=...` query values.
    Anything without a password comes back unchanged."""
    scheme, sep, rest = url.partition("://")
    head = re.split(r"[?#]", rest, maxsplit=1)[0]
    auth = re.match(r"([^:/@]*):(.*)@", head)  # user:password@ (greedy: a password may hold '@' or '/')
    if sep and auth:
        url = f"{scheme}://{auth.group(1)}:***@{rest[auth.end():]}"
    return re.sub(r"(?i)([?&;](?:password|passwd|pwd)=)[^&;#]*", r"\1***", url)


def mask_secrets(text: str) -> str:
    """`text` with every URL in it passed through `mask_url`."""
    return _URL.sub(lambda m: mask_url(m.group(0)), text)

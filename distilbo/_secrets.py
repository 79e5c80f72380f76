"""Masking of secrets (passwords in storage URLs) in anything printed, logged or reported."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*):(?P<pw>[^@\s]*)@")


def mask_secrets(text: str) -> str:
    """`postgresql://user:pw@host/db` -> `postgresql://user:***@host/db`, anywhere in `text`."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}:***@", text)

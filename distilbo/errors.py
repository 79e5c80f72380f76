"""Errors a person can act on.

`UserError` is raised for bad input (config, flags, data, model folders, storage URLs). The CLI prints its
message as one line and exits with code 2; no traceback. Messages name the file, the field and the fix.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: one line naming the place (file, field) and the fix."""

    exit_code = 2


class DataError(UserError):
    """A data file that is not valid SQuAD (file, article/question id, field)."""


class ConfigError(UserError):
    """A config file or --set override that is not valid."""


def custom_code_refused(location: str, e: BaseException) -> UserError | None:
    """The UserError to raise when transformers refused to run a model folder's own Python code (`auto_map` in its
    config, trust_remote_code off), else None."""
    if "custom code" in str(e) or "trust_remote_code" in str(e):
        return UserError(f"{location}: the model needs its own Python code (auto_map in config.json), which distilbo "
                         "does not run by default; if you trust that code pass --trust-remote-code (or [run] "
                         "trust_remote_code = true), else use a stock transformers model")
    return None

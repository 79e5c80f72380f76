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

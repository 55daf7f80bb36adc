"""Errors of the replication package that a user can fix, with the messages that say how."""

from __future__ import annotations

import re


class ConfigError(ValueError):
    """An invalid configuration; the message lists every problem with its JSON path."""


def json_path(parent: str, key: str) -> str:
    """``parent.key``, or ``parent['key']`` when the key is not an identifier (as jsonschema writes paths)."""
    return f"{parent}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{parent}['{key}']"


class InputError(ValueError):
    """An input file (a user's data file, or an intermediate file of the workflow) cannot be
    used; the message names the file and the fix.  Job scripts print it as one line, without a
    traceback (:func:`replication.logs.logged`)."""


class DamagedFileError(InputError):
    """An intermediate file is damaged: unreadable, or not matching the SHA-256 recorded when it
    was written (:mod:`replication.integrity`); the message says how to regenerate it."""

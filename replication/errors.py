"""Errors of the replication package that a user can fix, with the messages that say how."""

from __future__ import annotations

import re


class ConfigError(ValueError):
    """An invalid configuration; the message lists every problem with its JSON path."""


def json_path(parent: str, key: str) -> str:
    """``parent.key``, or ``parent['key']`` when the key is not an identifier (as jsonschema writes paths)."""
    return f"{parent}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{parent}['{key}']"

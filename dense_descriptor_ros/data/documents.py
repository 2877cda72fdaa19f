"""Versioned documents: every file the package writes names its ``format`` and ``version``.

A reader checks both before it trusts a field, so a file of another kind or from another
version of this code is refused by name instead of failing somewhere inside. The check is
written here once for checkpoints, exports, keypoint-database exports, RGB-D sequences and the
simulated reference.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DocumentError(ValueError):
    """A file that is not the versioned document it should be."""


def check_header(document: Any, source: str | Path, fmt: str, version: int) -> dict:
    """``document`` if it is a dict of format ``fmt`` and version ``version``, else a clear error
    naming ``source``."""
    if not isinstance(document, dict) or document.get("format") != fmt:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise DocumentError(f"{source} is not a {fmt!r} file (expected format {fmt!r}, got {found!r})")
    if document.get("version") != version:
        raise DocumentError(f"{source} has {fmt!r} version {document.get('version')!r}, this code reads "
                            f"version {version}")
    return document


def read_document(path: str | Path, fmt: str, version: int) -> dict:
    """The JSON file ``path``, checked to be of format ``fmt`` and version ``version``."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{path} is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path} is not a text file: {exc}") from exc
    return check_header(document, path, fmt, version)

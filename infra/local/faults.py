"""Faults injected on purpose into AWS calls (see aws_guard.py)."""

from __future__ import annotations

from typing import Any


def maybe_fail(**kwargs: Any) -> Any:
    """botocore `before-send` hook: return an AWSResponse to answer instead of AWS, or None."""
    return None

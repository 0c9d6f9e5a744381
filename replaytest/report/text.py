"""Small text helpers every report uses: short JSON for one-line descriptions."""

from __future__ import annotations

import json
from typing import Any


def short_json(value: Any, limit: int = 60) -> str:
    """``value`` as JSON, cut to ``limit`` characters with an ellipsis."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"

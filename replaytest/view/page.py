"""The page itself: one self-contained HTML file, CSS and JS inline, nothing fetched.

The histories travel as one JSON document in a ``<script type="application/json">`` block
(with ``<`` escaped, so no history text can close it) that the page's script reads and draws
with ``textContent`` only. A Content-Security-Policy allows exactly that one script (by its
hash) and no network at all, so even a mistake in the drawing code could not run a history's
text or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from functools import cache
from importlib import resources
from typing import Any


@cache
def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _finite(value: Any) -> Any:
    """JSON has no NaN or Infinity (a Temporal payload may hold them): say them as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def embed_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: ASCII only (a lone surrogate stays an escape),
    and ``<``, ``>``, ``&`` escaped, so ``</script>`` or ``<!--`` in a history cannot end it."""
    try:
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(sections: list[dict[str, Any]], title: str) -> str:
    """The page for ``sections`` (failures first, as given): see :mod:`replaytest.view`."""
    script = _asset("page.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    csp = f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:"
    data = embed_json({"title": title, "sections": sections})
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_asset('page.css')}</style>\n"
        "</head><body>\n"
        '<header id="top"><h1>replaytest</h1><span id="summary"></span>'
        '<div class="filters">'
        '<select id="f-verdict" aria-label="verdict"><option value="all">all verdicts</option>'
        '<option value="failed">failed</option><option value="passed">passed</option>'
        '<option value="not_replayed">history only</option></select>'
        '<select id="f-type" aria-label="workflow type"><option value="">all workflow types</option></select>'
        '<input id="f-text" type="search" placeholder="filter by id, type, file or text" aria-label="text filter">'
        "</div></header>\n"
        '<main id="sections"></main>\n'
        f'<script type="application/json" id="replaytest-data">{data}</script>\n'
        f"<script>{script}</script>\n"
        "</body></html>\n"
    )

"""See a history: one self-contained HTML page with a timeline per history (the picture people
know from Temporal's Web UI) and, after a replay, its verdict marked on it.

``replaytest view`` and ``pytest --replay-html`` write it. ``model`` is what a backend hands
over (its ``timeline`` hook, see ``hook``); ``verdict`` turns a replay's result into data;
``sections`` joins the two per history; ``page`` writes the HTML. Imported only when a page is
asked for.
"""

"""The deterministic core that runs workflow code, live in the engine and on replay.

``loop`` (the FIFO workflow loop), ``execution`` (one run), ``matcher`` (the only reader of
recorded events), ``commands``, ``tasks`` (history → workflow tasks, one rule) and ``frames``
(which code is the user's). The core imports no engine, debugger, backend or pytest code.
"""

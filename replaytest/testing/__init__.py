"""Testing a workflow beyond replay: fault plans (``faults``), crash-at-every-step recovery
checks (``recovery``) and hypothesis strategies for both (``strategies``)."""

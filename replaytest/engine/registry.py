"""What a worker can run: registered workflows and activities, and importing them by name.

A worker only claims tasks whose workflow or activity type it has registered, so workers
with different code can share one database (the fixed code of a hotfix, say, or a worker
that runs only activities).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from ..definitions import ActivityDefinition, WorkflowDefinition, add_workflow, collect, workflow_definition
from ..modules import import_module, import_target
from .errors import EngineError


class Registry:
    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.activities: dict[str, ActivityDefinition] = {}
        self.modules: dict[str, types.ModuleType] = {}

    def add(self, *items: Any) -> list[types.ModuleType]:
        """Register workflow/activity functions, modules, or module names ("pkg.mod" or
        "pkg.mod:function"). Returns the modules the definitions live in."""
        resolved = []
        for item in items:
            if isinstance(item, str):
                item = import_target(item) if ":" in item else import_module(item)
            resolved.append(item)
        workflows, activities = collect(resolved)
        for defn in workflows.values():
            add_workflow(self.workflows, defn)  # warns when another module already has the type
        self.activities.update(activities)
        added = []
        for item in resolved:
            module = item if isinstance(item, types.ModuleType) else sys.modules.get(getattr(item, "__module__", ""))
            if module is not None:
                self.modules[module.__name__] = module
                added.append(module)
        return added

    def workflow(self, fn_or_name: Callable[..., Any] | str) -> WorkflowDefinition:
        """The definition to start: a registered type name, or a @workflow.defn function
        (registered on the fly)."""
        if not isinstance(fn_or_name, str):
            defn = workflow_definition(fn_or_name)
            if defn is None:
                raise EngineError(
                    f"{getattr(fn_or_name, '__qualname__', fn_or_name)!r} is not a workflow; "
                    "decorate it with @workflow.defn"
                )
            self.add(fn_or_name)
            return defn
        if fn_or_name not in self.workflows and ":" in fn_or_name:
            return self.workflow(import_target(fn_or_name))
        try:
            return self.workflows[fn_or_name]
        except KeyError:
            known = ", ".join(sorted(self.workflows)) or "none"
            raise EngineError(
                f"workflow type {fn_or_name!r} is not registered (registered: {known}); "
                "register its module with engine.register(...) or --module"
            ) from None

"""The native event types, grouped by the role each plays in replay."""

#: Events matched, in order, against the commands workflow code issues.
COMMAND_EVENTS = frozenset(
    {"ActivityTaskScheduled", "TimerStarted", "MarkerRecorded", "WorkflowExecutionCompleted", "WorkflowExecutionFailed"}
)
#: Events that replay feeds back into workflow code; each wakes the next workflow task.
OUTCOME_EVENTS = frozenset(
    {"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "TimerFired", "WorkflowExecutionSignaled"}
)
#: Events that end a workflow run.
CLOSING_EVENTS = frozenset({"WorkflowExecutionCompleted", "WorkflowExecutionFailed"})
#: Events that end one activity (its last attempt).
ACTIVITY_OUTCOMES = frozenset({"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut"})

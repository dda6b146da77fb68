"""The state vocabulary of runs, pipeline steps and executions: one place, imported everywhere.

    from stepline.states import RUN_TERMINAL, STEP_TERMINAL, is_terminal
    run.state in RUN_TERMINAL          # finished, failed, crashed or cached: it will not change
    is_terminal("skipped")             # True: a step that will not run in this execution

A run is what the store records (`runs.state`); a step is a run's place in one pipeline
execution, so it has the run states plus the ones only a scheduler knows (`pending`, `queued`,
`skipped`, `cancelled`). An execution ends `finished`, `failed` or `cancelled`.
"""

from __future__ import annotations

from typing import Literal, get_args

RunState = Literal["running", "finished", "failed", "crashed", "cached"]
StepState = Literal[
    "pending",
    "queued",
    "running",
    "finished",
    "failed",
    "crashed",
    "cached",
    "skipped",
    "cancelled",
]
ExecutionState = Literal["running", "finished", "failed", "cancelled"]

#: every state a run can have in the store, in the order `stepline runs ls --help` lists them
RUN_STATES: tuple[str, ...] = get_args(RunState)
#: run states that never change again (a `crashed` run that heartbeats again is the exception:
#: it was only silent, see `metadata.runs`)
RUN_TERMINAL: tuple[str, ...] = ("finished", "failed", "crashed", "cached")
#: step states that end a step's part in an execution
STEP_TERMINAL: tuple[str, ...] = (*RUN_TERMINAL, "skipped", "cancelled")
#: the states a step reaches when it produced its outputs (run or taken from the cache)
SUCCEEDED: tuple[str, ...] = ("finished", "cached")
#: step states that stop every step downstream of them
BLOCKING: tuple[str, ...] = ("failed", "crashed", "skipped", "cancelled")
EXECUTION_STATES: tuple[str, ...] = get_args(ExecutionState)


def is_terminal(state: str) -> bool:
    """True for a run or step state that will not change any more."""
    return state in STEP_TERMINAL

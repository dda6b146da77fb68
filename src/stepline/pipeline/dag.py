"""The step graph: edges from outputs to `:latest` inputs and from `after:`; no I/O.

dag = build_dag(spec.steps)
dag.order()                       # topological, ties in declaration order
dag.select(only=["train"])        # a subset, still in topological order
dag.select(from_step="clean")     # clean and everything downstream
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stepline.errors import SpecError
from stepline.formats.refs import ArtifactRef


class StepLike(Protocol):
    """What the DAG needs to know about a step."""

    @property
    def name(self) -> str: ...
    @property
    def inputs(self) -> Sequence[ArtifactRef]: ...
    @property
    def outputs(self) -> Sequence[str]: ...
    @property
    def after(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Dag:
    """Steps in declaration order and, for each, the steps it waits for."""

    steps: tuple[str, ...]
    upstream: Mapping[str, frozenset[str]]
    producers: Mapping[str, str]  # artifact name -> producing step

    def downstream(self, step: str) -> frozenset[str]:
        """Steps that wait directly for `step`."""
        return frozenset(s for s in self.steps if step in self.upstream[s])

    def descendants(self, step: str) -> frozenset[str]:
        """Every step that depends on `step`, directly or not."""
        seen: set[str] = set()
        todo = [step]
        while todo:
            for nxt in self.downstream(todo.pop()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return frozenset(seen)

    def ancestors(self, step: str) -> frozenset[str]:
        """Every step `step` depends on, directly or not."""
        seen: set[str] = set()
        todo = [step]
        while todo:
            for prev in self.upstream[todo.pop()]:
                if prev not in seen:
                    seen.add(prev)
                    todo.append(prev)
        return frozenset(seen)

    def order(self, subset: Iterable[str] | None = None) -> list[str]:
        """Topological order (Kahn), ties broken by declaration order; optionally of a subset."""
        keep = set(self.steps if subset is None else subset)
        done: set[str] = set()
        out: list[str] = []
        while len(out) < len(keep):
            for s in self.steps:
                if s in keep and s not in done and (self.upstream[s] & keep) <= done:
                    done.add(s)
                    out.append(s)
                    break
            else:  # pragma: no cover - build_dag rejects cycles
                raise SpecError("cycle among steps: " + ", ".join(sorted(keep - done)))
        return out

    def levels(self, subset: Iterable[str] | None = None) -> list[list[str]]:
        """Steps grouped by depth: each level only waits for earlier levels."""
        keep = set(self.steps if subset is None else subset)
        depth: dict[str, int] = {}
        for s in self.order(keep):
            depth[s] = 1 + max((depth[u] for u in self.upstream[s] if u in keep), default=-1)
        grouped: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for s in self.order(keep):
            grouped[depth[s]].append(s)
        return grouped

    def select(self, only: Iterable[str] | None = None, from_step: str | None = None) -> list[str]:
        """The steps to run, in order: `only` these, or `from_step` and its descendants, or all.

        Both given: the intersection. Raises `SpecError` naming an unknown step.
        """
        chosen = set(self.steps)
        if only is not None:
            names = [n for n in only if n]
            for n in names:
                self._known(n, "-s")
            chosen &= set(names)
        if from_step is not None:
            self._known(from_step, "--from")
            chosen &= {from_step} | self.descendants(from_step)
        return self.order(chosen)

    def _known(self, step: str, option: str) -> None:
        if step not in self.upstream:
            raise SpecError(f"{option} {step}: no such step; steps are {', '.join(self.steps)}")


def build_dag(steps: Mapping[str, StepLike]) -> Dag:
    """Build the DAG of `steps`; raise `SpecError` on unknown `after:` steps or a cycle.

    A step waits for the producer of each input that follows `latest` (`sample.csv:latest` or
    `sample.csv`), and for each step in its `after:`. Inputs with another alias (`:reference`,
    `:prod`, `:v3`) come from the store, not from a step.
    """
    producers: dict[str, str] = {}
    for step in steps.values():
        for out in step.outputs:
            producers.setdefault(out, step.name)
    upstream: dict[str, frozenset[str]] = {}
    for name, step in steps.items():
        deps: set[str] = set()
        for ref in step.inputs:
            producer = producers.get(ref.name)
            if ref.follows_latest and ref.project is None and producer is not None:
                if producer == name:
                    raise SpecError(
                        f"step {name!r}: input {str(ref)!r} is its own output; "
                        "use an explicit version (name:vN) or alias to read an older one"
                    )
                deps.add(producer)
        for other in step.after:
            if other not in steps:
                raise SpecError(
                    f"step {name!r}: after: {other!r} is not a step; steps are {', '.join(steps)}"
                )
            if other == name:
                raise SpecError(f"step {name!r}: after: a step cannot wait for itself")
            deps.add(other)
        upstream[name] = frozenset(deps)
    cycle = find_cycle(tuple(steps), upstream)
    if cycle:
        raise SpecError("cycle in pipeline steps: " + " -> ".join(cycle))
    return Dag(steps=tuple(steps), upstream=upstream, producers=producers)


def find_cycle(order: Sequence[str], upstream: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as a path `[a, b, ..., a]` following data flow, or None."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(order, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for dep in sorted(upstream[node], key=order.index):
            if color[dep] == grey:
                cycle = [*stack[stack.index(dep) :], dep]
                return list(reversed(cycle))  # upstream edges reversed = data flow
            if color[dep] == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for node in order:
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return None

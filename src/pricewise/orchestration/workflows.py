"""Workflows: named lists of steps, and the run parameters that decide which of them run.

A step is a plain async function `(StepEnv, StepInput) -> dict` whose dict is JSON-able: it is
stored as the step's OrchestrationResult.step_output. The plan of a run (its steps, and which of
them are skipped and why) is a pure function of the workflow and the parameters, so a run resumed
after a crash, by any worker, follows the same plan.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pricewise.core.errors import invalid

if TYPE_CHECKING:
    from pricewise.core.context import AppContext
    from pricewise.core.llm import LLMClient
    from pricewise.core.tenancy import Scope


class Parameters(BaseModel):
    """The spec's run parameters. Unknown keys are kept (the client may send more) and ignored."""

    model_config = ConfigDict(strict=True, extra="allow")

    analysis_depth: Literal["basic", "comprehensive"] = "comprehensive"
    include_forecasting: bool = True
    target_segments: list[str] | None = Field(default=None, max_length=200)


def parse_parameters(raw: Mapping[str, Any] | None) -> Parameters:
    try:
        return Parameters.model_validate(dict(raw or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise invalid(f"parameters.{loc}" if loc else "parameters", str(err["msg"])) from None


@dataclass(frozen=True)
class StepInput:
    """What a step is given: the run, its parameters and the outputs of the steps it `needs`."""

    run_id: str
    invocation_id: str
    tenant_id: str
    product_id: str | None
    workflow_type: str
    parameters: Parameters
    previous: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    step_order: int = 0

    def recorded(self) -> dict[str, Any]:
        """The step_input kept with the result: small, and enough to say what the step was given."""
        return {"product_id": self.product_id, "workflow_type": self.workflow_type, "step_order": self.step_order,
                "parameters": self.parameters.model_dump(), "uses": sorted(self.previous)}


@dataclass
class StepEnv:
    """What a step works with: the tenant's scope (the step's writes commit with its result), the
    app context, and the tenant's LLM client when one is configured (asked for once)."""

    scope: Scope
    ctx: AppContext
    _llm: Any = None
    _llm_loaded: bool = False

    async def llm(self) -> LLMClient | None:
        if not self._llm_loaded:
            from pricewise.accounts.llm import llm_for

            self._llm, self._llm_loaded = await llm_for(self.ctx, self.scope.tenant_id), True
        client: LLMClient | None = self._llm
        return client


StepFn = Callable[[StepEnv, StepInput], Awaitable[dict[str, Any]]]
SkipRule = Callable[[Parameters, str], str | None]  # (parameters, workflow) -> why it is skipped


class PermanentStepError(Exception):
    """A failure that a retry cannot fix (missing data, a deleted product): the run fails at once."""


def _never(_: Parameters, __: str) -> str | None:
    return None


@dataclass(frozen=True)
class Step:
    key: str  # unique within a workflow: full_analysis merges workflows by key
    name: str  # shown as step_name and as the run's current step
    fn: StepFn
    skip: SkipRule = _never
    needs: tuple[str, ...] = ()  # keys of earlier steps whose outputs the step reads


@dataclass(frozen=True)
class Workflow:
    name: str
    title: str
    steps: tuple[Step, ...]
    needs_product: bool = True


@dataclass(frozen=True)
class PlannedStep:
    order: int
    step: Step
    skip_reason: str | None


_REGISTRY: dict[str, Workflow] = {}
_loaded_modules: set[str] = set()


def register(workflow: Workflow) -> Workflow:
    keys = [s.key for s in workflow.steps]
    if len(set(keys)) != len(keys):
        raise ValueError(f"workflow {workflow.name} repeats a step key")
    _REGISTRY[workflow.name] = workflow
    return workflow


def merge(name: str, title: str, *parts: tuple[Step, ...]) -> Workflow:
    """A workflow made of others' steps in order, each step once (the first occurrence kept)."""
    seen: dict[str, Step] = {}
    for steps in parts:
        for s in steps:
            seen.setdefault(s.key, s)
    return Workflow(name, title, tuple(seen.values()))


def load_modules(spec: str) -> None:
    """Import the modules named in the orchestration_workflow_modules setting (they register)."""
    for name in (m.strip() for m in spec.split(",")):
        if name and name not in _loaded_modules:
            importlib.import_module(name)
            _loaded_modules.add(name)


def get(name: str) -> Workflow:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise invalid("workflow_type", f"must be one of {', '.join(names())}") from None


def names() -> list[str]:
    _ensure_builtins()
    return sorted(_REGISTRY)


def plan(workflow: Workflow, params: Parameters) -> list[PlannedStep]:
    return [PlannedStep(i, s, s.skip(params, workflow.name)) for i, s in enumerate(workflow.steps)]


def _ensure_builtins() -> None:
    if "pricing_analysis" not in _REGISTRY:
        from pricewise.orchestration import builtin  # noqa: F401  (registers on import)


def title(name: str) -> str:
    _ensure_builtins()
    wf = _REGISTRY.get(name)
    return wf.title if wf else name.replace("_", " ").capitalize()

"""Workflows that only tests register, through the orchestration_workflow_modules setting (a worker
subprocess gets it as PRICEWISE_ORCHESTRATION_WORKFLOW_MODULES)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

from pricewise.catalog.models import Product
from pricewise.orchestration.workflows import Step, StepEnv, StepInput, Workflow, register

CALLS: dict[str, int] = {}  # run id -> calls of the flaky step (in-process tests)


def _extra(inp: StepInput) -> dict[str, Any]:
    return dict(inp.parameters.model_extra or {})


async def slow(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    """Marks its start in marker_dir, sleeps, then writes a product row: the row commits with the
    step's result, so a step killed half way leaves neither."""
    extra = _extra(inp)
    if extra.get("marker_dir"):
        Path(extra["marker_dir"], f"start-{inp.step_order}-{os.getpid()}-{uuid.uuid4().hex[:6]}").touch()
    await asyncio.sleep(float(extra.get("sleep_seconds", 0.2)))
    env.scope.add(Product(name=f"made by run {inp.invocation_id} step {inp.step_order}"))
    await env.scope.session.flush()
    return {"pid": os.getpid(), "step_order": inp.step_order}


async def flaky(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    n = CALLS[inp.run_id] = CALLS.get(inp.run_id, 0) + 1
    if n <= int(_extra(inp).get("fail_times", 2)):
        raise RuntimeError(f"transient failure number {n}")
    return {"calls": n}


async def broken(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    env.scope.add(Product(name="written by a step that then failed"))
    await env.scope.session.flush()
    raise RuntimeError("the data source is down")


async def noop(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    return {"ok": True}


register(Workflow("test_slow", "Slow test workflow",
                  tuple(Step(f"slow{i}", f"Slow step {i + 1}", slow) for i in range(4)), needs_product=False))
register(Workflow("test_flaky", "Flaky test workflow",
                  (Step("flaky", "Flaky step", flaky), Step("after", "After the flaky step", noop)),
                  needs_product=False))
register(Workflow("test_broken", "Broken test workflow",
                  (Step("first", "First step", noop), Step("broken", "Broken step", broken),
                   Step("never", "Never reached", noop)), needs_product=False))

"""The engine-only workflow of bench/orchestration_load.py: 8 steps that each read the product
and wait (as a step waits on an LLM), so that the engine's own cost per step is measured without
model fitting in other threads competing for the interpreter. Workers import this module through
PRICEWISE_ORCHESTRATION_WORKFLOW_MODULES=orchestration_workflow (bench/ on PYTHONPATH)."""

from __future__ import annotations

import asyncio
from typing import Any

from pricewise.catalog.models import Product
from pricewise.orchestration.workflows import Step, StepEnv, StepInput, Workflow, register

STEPS = 8


async def wait_step(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    product = await env.scope.get(Product, inp.product_id or "", label="product")
    wait = float((inp.parameters.model_extra or {}).get("wait_ms", 50)) / 1000
    await asyncio.sleep(wait)
    return {"product": product.name, "waited_ms": wait * 1000, "step_order": inp.step_order}


register(Workflow("bench_wait", "Engine benchmark",
                  tuple(Step(f"wait{i}", f"Wait step {i + 1}", wait_step) for i in range(STEPS))))

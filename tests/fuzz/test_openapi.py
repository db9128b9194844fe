"""API fuzzing: schemathesis generates requests from /openapi.json and sends them to the app in
process, on a real SQLite file and on PostgreSQL, as the admin of a real tenant.

Every response must be free of server errors, have a documented status code and content type
and, where the operation declares a response schema, conform to it (the 4xx answers declare the
one error shape of core/errors.py). test_openapi_fuzz sends valid and invalid requests to every
operation; test_openapi_stateful chains calls through links (an id a create returns, fed to the
reads, updates and deletes). CI runs the bounded, reproducible profile (derandomized, 15 examples
per operation); `make fuzz` runs PRICEWISE_FUZZ_EXAMPLES=500.

Not fuzzed: /ws (a WebSocket, not in the schema; tests/orchestration drives it) and /mcp (its own
JSON-RPC protocol behind signed requests, not in the schema; tests/mcp)."""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts import service
from pricewise.accounts.auth import make_api_key
from pricewise.accounts.models import Tenant
from pricewise.app import create_app
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.db import commit
from pricewise.core.ids import new_id
from tests.conftest import make_settings
from tests.support import PASSWORD, Mailbox, OpenAIStub

EXAMPLES = int(os.environ.get("PRICEWISE_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate, Phase.shrink])
# Scenarios of up to 10 calls, four per example of the per-operation profile. No shrinking: a
# replay shares the database (platform rows, other scenarios' tenants) with the run that failed.
STATEFUL = settings(FUZZ, max_examples=max(EXAMPLES, 10) * 4, stateful_step_count=10, phases=[Phase.generate])
CHECKS: list[CheckFunction] = [schemathesis.checks.not_a_server_error, status_code_conformance,
                               content_type_conformance, response_schema_conformance]
UNLIMITED = 1_000_000  # rate limits out of the way: throttling is tested in tests/core


class Tenants:
    """Verified tenants with an admin API key, made the way `pricewise tenants create` makes one.
    Operations share one tenant (so later ones see what earlier ones wrote), except those that
    end the principal's access (deactivate the tenant, revoke or rotate keys, change users): each
    of these gets a tenant of its own, so it cannot starve the operations fuzzed after it."""

    OWN_TENANT = frozenset({"POST /tenants/deactivate", "DELETE /api-keys/{key_id}", "POST /api-keys/{key_id}/rotate",
                            "PATCH /users/{user_id}", "DELETE /users/{user_id}"})

    def __init__(self, app: Any) -> None:
        self.ctx: AppContext = app.state.ctx
        self.keys: dict[str, str] = {}
        self.made = 0

    def key(self, label: str) -> str:
        name = label if label in self.OWN_TENANT else "shared"
        if name not in self.keys:
            self.keys[name] = asyncio.run(self._commit(self._registered))
        return self.keys[name]

    def bare_key(self) -> str:
        """A new verified tenant with just an admin API key (no user, so no password hashing):
        cheap enough for one per stateful scenario."""
        return asyncio.run(self._commit(self._bare))

    async def _commit(self, make: Callable[[AsyncSession, AppContext], Awaitable[str]]) -> str:
        ctx = AppContext.build(self.ctx.settings, "required")  # its own engine, on this thread's loop
        try:
            async with ctx.db.session() as session:
                self.made += 1
                raw = await make(session, ctx)
                await commit(session)
            return raw
        finally:
            await ctx.db.dispose()

    async def _registered(self, session: AsyncSession, ctx: AppContext) -> str:
        tenant, raw = await service.register(session, ctx, name=f"Fuzz {self.made}", password=PASSWORD,
                                             email=f"fuzz{self.made}@example.com", tier="enterprise")
        tenant.email_verified_at = utcnow()
        session.info.pop("after_commit", None)  # no verification mail
        return raw

    async def _bare(self, session: AsyncSession, ctx: AppContext) -> str:
        tenant = Tenant(id=new_id(), name=f"Scenario {self.made}", email=f"scenario{self.made}@example.com",
                        tier="enterprise", region_preferences=[], branding={}, email_verified_at=utcnow())
        session.add(tenant)
        await session.flush()
        key, raw = make_api_key(tenant.id, "default", "admin")
        session.add(key)
        return raw


@pytest.fixture
def fuzz_app(db_url: str, tmp_path: Path, mailbox: Mailbox, openai_stub: OpenAIStub) -> Any:
    # BYOK keys are checked against the stub on loopback, mail goes to the local SMTP server.
    s = make_settings(db_url, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port,
                      openai_base_url=openai_stub.base_url,
                      rate_limit_requests_per_minute=UNLIMITED, rate_limit_ai_requests_per_minute=UNLIMITED,
                      estimates_per_hour_trial=UNLIMITED, estimates_per_hour_pro=UNLIMITED,
                      estimates_per_hour_enterprise=UNLIMITED)
    app = create_app(s, auth_mode="required")
    app.state.fuzz_tenants = Tenants(app)
    yield app
    asgi.shutdown_lifespans()  # the lifespan runs in schemathesis' event loop thread, entered on first call


def _operation_test(operation: Any, key: str) -> Any:
    """The property test of one operation: valid and invalid requests alike."""
    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @FUZZ
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"X-API-Key": key}, checks=CHECKS)

    return run


def fuzz_operations(schema: Any, tenants: Tenants) -> list[str]:
    """Run every operation's property test; return one report per failing operation."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _operation_test(operation, tenants.key(operation.label))()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_openapi_fuzz(fuzz_app: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures = fuzz_operations(schema, fuzz_app.state.fuzz_tenants)
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)


ID, REPORT_ID, RUN_ID = "$response.body#/_id", "$response.body#/report_id", "$response.body#/invocation_id"
# Links the schema cannot say for itself (ids travel as `_id` in bodies and `id` in queries and
# bodies, as the existing client expects), so sequences reach rows that exist:
# source -> {target: (parameters, request body)}.
LINKS: dict[str, dict[str, tuple[dict[str, str], dict[str, str] | None]]] = {
    "POST /product/create": {
        "GET /product/read": ({"id": ID}, None), "PUT /product/update": ({}, {"id": ID}),
        "DELETE /product/delete": ({}, {"id": ID}), "POST /product/restore": ({}, {"id": ID}),
        "POST /customer-segment/create": ({}, {"product": ID}), "POST /pricing-plan/create": ({}, {"product": ID}),
        "POST /api/scenarios": ({}, {"product": ID}), "POST /api/scenarios/compare": ({}, {"product": ID}),
        "POST /api/usage-analysis": ({}, {"product": ID}), "POST /api/usage-analysis/predict": ({}, {"product": ID}),
        "POST /api/knowledge/documents": ({}, {"product_id": ID}),
        "POST /productintegration/create": ({}, {"product_id": ID}),
        "GET /api/analytics/performance-insights": ({"product_id": ID}, None),
    },
    "POST /customer-segment/create": {
        "GET /customer-segment/read": ({"id": ID}, None), "PUT /customer-segment/update": ({}, {"id": ID}),
        "DELETE /customer-segment/delete": ({}, {"id": ID}),
        "GET /api/customer-segments/{segment_id}": ({"segment_id": ID}, None),
        "POST /customer-segment/pricing-plan/link/create": ({}, {"customer_segment_id": ID}),
        "POST /api/recommendations/generate": ({}, {"customer_segment": ID}),
    },
    "POST /pricing-plan/create": {
        "GET /pricing-plan/read": ({"id": ID}, None), "PUT /pricing-plan/update": ({}, {"id": ID}),
        "DELETE /pricing-plan/delete": ({}, {"id": ID}), "GET /pricing-plan/price-history": ({"id": ID}, None),
        "POST /pricing-plan/price-history": ({}, {"id": ID}),
        "GET /api/pricing-models/{plan_id}": ({"plan_id": ID}, None),
        "POST /customer-segment/pricing-plan/link/create": ({}, {"pricing_plan_id": ID}),
        "POST /api/ai-analysis/gap-diagnosis": ({}, {"pricing_model": ID}),
    },
    "POST /customer-segment/pricing-plan/link/create": {
        "PUT /customer-segment/pricing-plan/link/update": ({}, {"id": ID}),
        "DELETE /customer-segment/pricing-plan/link/delete": ({}, {"id": ID}),
        "DELETE /api/canvas/connections/{link_id}": ({"link_id": ID}, None),
    },
    "POST /api/experiments": {f"{m} /api/experiments/{{experiment_id}}{tail}": ({"experiment_id": ID}, None)
                              for m, tail in (("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/results"))},
    "POST /api/scenarios": {f"{m} /api/scenarios/{{scenario_id}}": ({"scenario_id": ID}, None)
                            for m in ("GET", "DELETE")},
    "POST /api/usage-analysis": {f"{m} /api/usage-analysis/{{analysis_id}}": ({"analysis_id": ID}, None)
                                 for m in ("GET", "PUT", "DELETE")},
    "POST /reference-classes": {
        **{f"{m} /reference-classes/{{class_id}}": ({"class_id": ID}, None) for m in ("GET", "PUT", "DELETE")},
        "POST /admin/synthetic/apply": ({}, {"reference_class_id": ID}),
    },
    "POST /api/knowledge/documents": {
        f"{m} /api/knowledge/documents/{{document_id}}{tail}": ({"document_id": ID}, None)
        for m, tail in (("GET", ""), ("DELETE", ""), ("POST", "/refresh"))},
    "POST /scheduled-reporting/create": {
        **{f"{m} /scheduled-reporting/{verb}": ({}, {"id": ID})
           for m, verb in (("POST", "pause"), ("POST", "resume"), ("DELETE", "delete"))},
        "GET /scheduled-reporting/{schedule_id}/deliveries": ({"schedule_id": ID}, None),
    },
    "POST /api/reports/generate": {f"GET /api/reports/{{report_id}}/{tail}": ({"report_id": REPORT_ID}, None)
                                   for tail in ("status", "download")},
    "POST /api/orchestration/start": {
        f"{m} /api/orchestration/runs/{{invocation_id}}{tail}": ({"invocation_id": RUN_ID}, None)
        for m, tail in (("GET", ""), ("GET", "/logs"), ("POST", "/cancel"), ("POST", "/pause"), ("POST", "/resume"))},
    "POST /datasources/create": {"DELETE /datasources/delete": ({}, {"id": ID})},
    "POST /productintegration/create": {"DELETE /productintegration/delete": ({}, {"id": ID})},
}


def with_links(spec: dict[str, Any]) -> dict[str, Any]:
    ops = {f"{m.upper()} {path}": op for path, item in spec["paths"].items() for m, op in item.items()}
    for source, targets in LINKS.items():
        responses = ops[source]["responses"]
        ok = next(code for code in responses if code.startswith("2"))
        links = responses[ok].setdefault("links", {})
        for target, (parameters, body) in targets.items():
            link: dict[str, Any] = {"operationId": ops[target]["operationId"], "parameters": parameters}
            if body is not None:
                link["requestBody"] = body
            links[target.replace(" ", "_").replace("/", "_").strip("_")] = link
    return spec


def test_openapi_stateful(fuzz_app: Any) -> None:
    """Sequences of calls chained through the links schemathesis infers from the schema (an id a
    create returns fed to read/update/delete), so routes are fuzzed on rows that exist."""
    schema = schemathesis.openapi.from_dict(with_links(copy.deepcopy(fuzz_app.openapi())))
    schema.app = fuzz_app  # requests go to the app in process, as with from_asgi
    schema = (schema
              # They revoke the one key the sequence runs with: each is fuzzed alone in test_openapi_fuzz.
              .exclude(method="POST", path="/tenants/deactivate")
              .exclude(path_regex=r"^/api-keys/\{key_id\}")
              .exclude(path_regex=r"^/users/\{user_id\}$"))
    tenants: Tenants = fuzz_app.state.fuzz_tenants

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # A tenant per scenario: the same calls meet the same state, as Hypothesis requires.
            self.key = tenants.bare_key()

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": {"X-API-Key": self.key}}

        def validate_response(self, response: schemathesis.Response, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                                   recorder=self.recorder)

    Workflow.run(settings=STATEFUL)

"""The scoping conversation: each message's details are extracted and merged, the project is
matched on everything the customer said, and chat.next_turn decides what to ask next."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.embeddings import static_embedder
from pricewise.core.errors import Conflict
from pricewise.core.tenancy import Scope
from pricewise.estimation import chat, extract, service
from pricewise.estimation.llm_extract import llm_client
from pricewise.estimation.matching import LOW_CONFIDENCE
from pricewise.estimation.models import ChatSession
from pricewise.estimation.priors import SUBCATEGORIES

MAX_MESSAGES = 40  # both sides: a scoping chat that needs more is not converging
SESSION_HOURS = 24
STATE = "_state"  # what was asked last and what the customer could not say; not shown as a detail


async def by_session(scope: Scope, session_id: str) -> ChatSession:
    row: ChatSession = await scope.one(scope.select(ChatSession).where(ChatSession.session_id == session_id),
                                       f"conversation {session_id}")
    return row


def details(row: ChatSession) -> dict[str, Any]:
    return {k: v for k, v in (row.extracted or {}).items() if k != STATE}


async def send(ctx: AppContext, scope: Scope, data: dict[str, Any], *, widget: bool = False) -> ChatSession:
    if data.get("session_id"):
        row = await by_session(scope, data["session_id"])
        if row.expires_at is not None and row.expires_at < utcnow():
            raise Conflict("this conversation has expired; start a new one", code="conversation_expired")
        if len(row.messages or []) + 2 > MAX_MESSAGES:
            raise Conflict(f"this conversation reached its {MAX_MESSAGES}-message limit; ask for the estimate "
                           "or start a new conversation", code="conversation_full")
    else:
        row = ChatSession(session_id=str(uuid.uuid4()), messages=[], extracted={}, widget=widget,
                          expires_at=utcnow() + timedelta(hours=SESSION_HOURS))
        scope.add(row)
    message: str = data["message"]
    state = dict((row.extracted or {}).get(STATE) or {})
    known = {k: v for k, v in details(row).items() if k not in ("category", "subcategory")}
    keys = await service.stamps(scope)
    llm = await llm_client(ctx, scope, keys.own_llm_key)
    known = extract.merge(known, await service.details_of(llm, message))
    said = " ".join([m["content"] for m in row.messages or [] if m.get("role") == "user"] + [message])

    classes = await service.class_set(scope, keys.classes)
    if static_embedder().unseen(said):  # first sight of a word: the transformer, off the loop
        matches = await asyncio.to_thread(classes.matcher.match, said, known.get("region"), known)
    else:
        matches = classes.matcher.match(said, known.get("region"), known)
    best = matches[0] if matches else None
    confident = best is not None and best.confidence >= LOW_CONFIDENCE
    sub = best.subcategory if best is not None and confident else None
    prior = SUBCATEGORIES.get(sub or "")
    required = list(prior.required) if prior else []
    if "region" not in required:
        required.append("region")
    turn = chat.next_turn(subcategory=sub, label=prior.label if prior else None, confident=confident,
                          required=required, known=known, skipped=state.get("skipped", []),
                          last_asked=state.get("asked"), last_message=message)
    shown = dict(known)
    if sub is not None and best is not None:
        shown = {"category": classes.views[best.id].category, "subcategory": sub, **known}
    row.extracted = {**shown, STATE: {"asked": turn.asked, "skipped": turn.skipped,
                                      "suggestions": turn.suggestions}}
    row.reference_class_id = best.id if best is not None else None
    row.confidence = round(best.confidence, 4) if best is not None else 0.0
    row.ready_for_estimate = turn.ready_for_estimate
    row.messages = [*(row.messages or []), {"role": "user", "content": message},
                    {"role": "assistant", "content": turn.response}]
    await scope.session.flush()
    return row


def send_out(row: ChatSession) -> dict[str, Any]:
    state = (row.extracted or {}).get(STATE) or {}
    return {"session_id": row.session_id, "response": row.messages[-1]["content"] if row.messages else "",
            "suggestions": list(state.get("suggestions") or []), "ready_for_estimate": row.ready_for_estimate,
            "extracted_details": details(row), "confidence": row.confidence}


def history_out(row: ChatSession) -> dict[str, Any]:
    return {"session_id": row.session_id, "messages": list(row.messages or []),
            "ready_for_estimate": row.ready_for_estimate, "extracted_details": details(row),
            "estimation_id": row.estimation_id}

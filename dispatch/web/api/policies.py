"""Alarm policies per site and level: read them (stored or default), change them, reset them."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import delete, select

from dispatch.routing.policy import Policy, Scope, policy_for
from dispatch.store.audit import AuditTrail
from dispatch.store.models import AlarmPolicy, Site
from dispatch.web.api.deps import DB, Admin, HubDep, Reader, ScopeDep, actor, get_or_404
from dispatch.web.api.schemas import Input
from shared.domain import AlarmLevel

router = APIRouter(tags=["policies"])

Level = Annotated[int, Path(ge=1, le=3, description="Alarm level 1-3")]
SECURITY_SCOPES = {Scope.SECURITY, Scope.ALL_SECURITY}


class EscalationStepIO(BaseModel):
    after_s: int = Field(ge=1, le=3600, description="Seconds after storing, if nobody acknowledged")
    scope: Scope


class PolicyIn(Input):
    scopes: list[Scope] = Field(min_length=1)
    escalation: list[EscalationStepIO] = Field(default_factory=list, max_length=10)
    cancel_window_s: int = Field(ge=0, le=300)
    raiser_feedback: Literal["none", "count", "names"] = "count"
    countdown_s: int = Field(0, ge=0, le=10, description="Seconds the agent waits (cancel offered)")
    nobody_reached_s: int = Field(
        10,
        ge=1,
        le=120,
        description="Seconds after storing until the raiser is told 'nobody reached' when no"
        " recipient confirmed the popup and no console showed the alarm",
    )

    @model_validator(mode="after")
    def _safe(self) -> PolicyIn:
        if not SECURITY_SCOPES & set(self.scopes):
            raise ValueError(
                "scopes must include security or all_security: an alarm must reach security"
            )
        times = [step.after_s for step in self.escalation]
        if times != sorted(set(times)):
            raise ValueError("escalation steps must come at strictly increasing after_s")
        return self


class PolicyOut(BaseModel):
    site_id: int
    level: int
    source: Literal["site", "default"]
    scopes: list[Scope]
    escalation: list[EscalationStepIO]
    cancel_window_s: int
    raiser_feedback: str
    countdown_s: int
    nobody_reached_s: int


def _out(site_id: int, level: AlarmLevel, policy: Policy, stored: bool) -> PolicyOut:
    return PolicyOut(
        site_id=site_id,
        level=int(level),
        source="site" if stored else "default",
        scopes=sorted(policy.scopes),
        escalation=[EscalationStepIO(after_s=s.after_s, scope=s.scope) for s in policy.escalation],
        cancel_window_s=policy.cancel_window_s,
        raiser_feedback=policy.raiser_feedback,
        countdown_s=policy.countdown_s,
        nobody_reached_s=policy.nobody_reached_s,
    )


async def _stored(db: DB, site_id: int, level: AlarmLevel, scope: ScopeDep) -> PolicyOut:
    async with db.read() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        row = await session.scalar(
            select(AlarmPolicy.id).where(
                AlarmPolicy.site_id == site_id, AlarmPolicy.level == int(level)
            )
        )
        return _out(site_id, level, await policy_for(session, site_id, level), row is not None)


@router.get("/sites/{site_id}/policies", response_model=list[PolicyOut], summary="All levels")
async def list_policies(site_id: int, _: Reader, db: DB, scope: ScopeDep) -> list[PolicyOut]:
    return [await _stored(db, site_id, level, scope) for level in AlarmLevel]


@router.get("/sites/{site_id}/policies/{level}", response_model=PolicyOut, summary="One level")
async def get_policy(site_id: int, level: Level, _: Reader, db: DB, scope: ScopeDep) -> PolicyOut:
    return await _stored(db, site_id, AlarmLevel(level), scope)


@router.put("/sites/{site_id}/policies/{level}", response_model=PolicyOut, summary="Set")
async def put_policy(
    site_id: int,
    level: Level,
    body: PolicyIn,
    operator: Admin,
    db: DB,
    hub: HubDep,
    scope: ScopeDep,
) -> PolicyOut:
    """Applies to alarms raised from now on; open alarms keep their escalation steps."""
    values = {
        "scopes": json.dumps(sorted(set(body.scopes))),
        "escalation": json.dumps([step.model_dump(mode="json") for step in body.escalation]),
        "cancel_window_s": body.cancel_window_s,
        "raiser_feedback": body.raiser_feedback,
        "countdown_s": body.countdown_s,
        "nobody_reached_s": body.nobody_reached_s,
    }
    async with db.write() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        row = await session.scalar(
            select(AlarmPolicy).where(AlarmPolicy.site_id == site_id, AlarmPolicy.level == level)
        )
        if row is None:
            session.add(AlarmPolicy(site_id=site_id, level=level, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        (await AuditTrail.open(session)).append(
            actor(operator), "policy_set", site_id=site_id, level=level, policy=values
        )
    hub.alarms.levels.forget(site_id)  # the next welcome says the new countdown
    return await _stored(db, site_id, AlarmLevel(level), scope)


@router.delete("/sites/{site_id}/policies/{level}", response_model=PolicyOut, summary="Reset")
async def reset_policy(
    site_id: int, level: Level, operator: Admin, db: DB, hub: HubDep, scope: ScopeDep
) -> PolicyOut:
    """Back to the built-in default for this level."""
    async with db.write() as session:
        await get_or_404(session, Site, site_id, "site", scope)
        result = await session.execute(
            delete(AlarmPolicy).where(AlarmPolicy.site_id == site_id, AlarmPolicy.level == level)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise HTTPException(404, f"site {site_id} uses the default for level {level} already")
        (await AuditTrail.open(session)).append(
            actor(operator), "policy_reset", site_id=site_id, level=level
        )
    hub.alarms.levels.forget(site_id)
    return await _stored(db, site_id, AlarmLevel(level), scope)

"""No alert storms: what a (rule, group) says when it is checked again — a pure state machine.

Why a state machine and not "send whenever the condition holds": a rule checked every five
minutes on a district that stays over its threshold for a week would post 2,000 messages, and
people mute the group; then the one alert that matters is missed. So per (rule, group):

    not firing ──holds──▶ firing        event "fired"   (told once)
    firing     ──holds──▶ firing        event "repeat"  only when repeat_every has passed since
                                                        the last message (0 = never repeat)
    firing     ──clear──▶ not firing    event "cleared" (people learn it is over)
    not firing ──clear──▶ not firing    nothing

Quiet hours do not change the state, only the delivery: a fired or cleared event inside quiet
hours is stored as "held" and sent when the quiet hours end (citybi.alerts.service), never
dropped; repeats are not produced inside quiet hours (they would all arrive at 7:00 at once).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

FIRED, REPEAT, CLEARED = "fired", "repeat", "cleared"
BRIEFING = "briefing"  # a scheduled board briefing, kept in the same history
EVENT_LABELS = {FIRED: "预警", REPEAT: "持续", CLEARED: "恢复", BRIEFING: "简报"}


@dataclass(frozen=True)
class GroupState:
    firing: bool = False
    since: dt.datetime | None = None  # when the current firing began
    last_sent_at: dt.datetime | None = None  # the last message about it (fired or repeat)


def step(state: GroupState | None, holds: bool, now: dt.datetime, *, repeat_every_s: int = 0,
         quiet: bool = False) -> tuple[GroupState, str | None]:
    """The new state and the event to record (None: nothing to say)."""
    state = state or GroupState()
    if holds and not state.firing:
        return GroupState(firing=True, since=now, last_sent_at=now), FIRED
    if holds:
        due = (repeat_every_s > 0 and not quiet and
               (state.last_sent_at is None or (now - state.last_sent_at).total_seconds() >= repeat_every_s))
        return (replace(state, last_sent_at=now), REPEAT) if due else (state, None)
    if state.firing:
        return GroupState(firing=False, since=None, last_sent_at=now), CLEARED
    return state, None

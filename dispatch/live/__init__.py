"""The hub's live state: who is connected, fan-out, re-sending, supervision and coverage."""

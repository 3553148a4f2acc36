"""Alarms: their lifecycle, storage, receipts, answers, timers, drills, reports and statistics."""

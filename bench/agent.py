"""Idle resource use of the real tray agent (RSS, CPU of one core) on Xvfb against a real demo hub.

A benchmark command, not a test: it prints figures against the targets in
GOALS.md (idle RSS ≤ 90 MB, idle CPU ≤ 0.1 % of one core) and never asserts.

    .venv/bin/python -m bench.agent [--seconds 60] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.kernel import cpu_seconds, load_average, rss_kib
from tests.support.agentproc import start_agent, write_agent_config
from tests.support.hub import start_demo_hub
from tests.support.xserver import xserver

RSS_TARGET_MB = 90.0
CPU_TARGET_PERCENT = 0.1
WARM_UP_SECONDS = 10.0  # start-up work (imports, tray, self-test) is not "idle"


def rss_parts_kib(pid: int) -> dict[str, int]:
    """RssAnon (the agent's own heap) and RssFile (mapped libraries, shared with other Qt apps)."""
    parts = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key = line.split(":", 1)[0]
            if key in ("RssAnon", "RssFile", "RssShmem"):
                parts[key] = int(line.split()[1])
    return parts


def machine() -> str:
    cpus = os.cpu_count()
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{platform.node()}: {cpus} cores, {model}, Linux {platform.release()}"


def run(seconds: float, workdir: Path) -> dict[str, Any]:
    # The production heartbeat: the agent pings every 5 s and the hub answers.
    hub = start_demo_hub(workdir / "hub", env={"SILENT_ALARM_HEARTBEAT_INTERVAL": "5"})
    try:
        demo = hub.agent_config("pc-1-02")
        config = write_agent_config(
            workdir / "agent" / "agent.toml",
            hub_urls=[hub.agent_ws_url],
            workstation_id="pc-1-02",
            token=demo["token"],
            user=demo["user"],
            self_test_interval_h=24,  # the production default: one self-test at start
        )
        with xserver() as x:
            agent = start_agent(config, x)
            try:
                agent.wait_for_log(r"connected to hub", 30.0)
                agent.wait_for_log(r"self-test passed", 30.0)
                time.sleep(WARM_UP_SECONDS)
                pid = agent.process.pid
                cpu_start, rss_start = cpu_seconds(pid), rss_kib(pid)
                started = time.monotonic()
                peak = rss_start
                while time.monotonic() - started < seconds:
                    time.sleep(1.0)
                    peak = max(peak, rss_kib(pid))
                elapsed = time.monotonic() - started
                cpu = cpu_seconds(pid) - cpu_start
                rss_end = rss_kib(pid)
                parts = rss_parts_kib(pid)
                disconnects = agent.log().count("disconnected")
            finally:
                agent.stop()
    finally:
        hub.stop()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "python": sys.version.split()[0],
        "idle_seconds": round(elapsed, 1),
        "rss_mb_start": round(rss_start / 1024, 1),
        "rss_mb_end": round(rss_end / 1024, 1),
        "rss_mb_peak": round(peak / 1024, 1),
        **{f"{key}_mb": round(kib / 1024, 1) for key, kib in parts.items()},
        "cpu_seconds": round(cpu, 3),
        "cpu_percent_of_core": round(100 * cpu / elapsed, 3),
        "disconnects": disconnects,
        "load_average": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle window (default 60)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        result = run(args.seconds, Path(tmp))
    rss, cpu = float(result["rss_mb_peak"]), float(result["cpu_percent_of_core"])
    print(json.dumps(result, indent=2))
    print(
        f"idle RSS peak {rss:.1f} MB (target ≤ {RSS_TARGET_MB:.0f}): "
        f"{'meets' if rss <= RSS_TARGET_MB else 'MISSES'}; "
        f"idle CPU {cpu:.3f} % of one core (target ≤ {CPU_TARGET_PERCENT}): "
        f"{'meets' if cpu <= CPU_TARGET_PERCENT else 'MISSES'}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

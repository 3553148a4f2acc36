"""Entry point of both frozen Windows programs (PyInstaller): a default per-user config, the CLI.

``silent-alarm-agent.exe`` (windowed, the tray agent) and ``silent-alarm-agent-cli.exe``
(console, for admins and the MSI's custom action) run this same script.

Like /usr/bin/silent-alarm-agent on Linux: without --config or
%SILENT_ALARM_AGENT_CONFIG% the agent reads %APPDATA%\\SilentAlarm\\agent.toml,
created empty when missing, since the policy registry key and the machine
files in %ProgramData%\\SilentAlarm\\agent.d carry the settings on managed PCs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from agent.cli import main

if __name__ == "__main__":
    # machine-config runs as SYSTEM from the MSI: no user, no user file.
    machine = sys.argv[1:2] == ["machine-config"]
    if not os.environ.get("SILENT_ALARM_AGENT_CONFIG") and not machine:
        appdata = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
        user_file = appdata / "SilentAlarm" / "agent.toml"
        user_file.parent.mkdir(parents=True, exist_ok=True)
        user_file.touch(exist_ok=True)
        os.environ["SILENT_ALARM_AGENT_CONFIG"] = str(user_file)
    sys.exit(main())  # the exit code is what scripts and the MSI's custom action check

"""Entry point of the frozen Windows agent (PyInstaller): a default per-user config, then the CLI.

Like /usr/bin/silent-alarm-agent on Linux: without --config or
%SILENT_ALARM_AGENT_CONFIG% the agent reads %APPDATA%\\SilentAlarm\\agent.toml,
created empty when missing, since the policy registry key and the machine
files in %ProgramData%\\SilentAlarm\\agent.d carry the settings on managed PCs.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.cli import main

if __name__ == "__main__":
    if not os.environ.get("SILENT_ALARM_AGENT_CONFIG"):
        appdata = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
        user_file = appdata / "SilentAlarm" / "agent.toml"
        user_file.parent.mkdir(parents=True, exist_ok=True)
        user_file.touch(exist_ok=True)
        os.environ["SILENT_ALARM_AGENT_CONFIG"] = str(user_file)
    main()

"""The ``silent-alarm-agent`` command: ``run`` the tray agent, ``trigger``, ``status``, … (below).

``trigger``, ``status`` and ``show`` go to the running agent through its local
socket (agent/instance.py) when one runs; ``trigger`` works on its own otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from agent import __version__, remote_session
from agent.config import AgentConfig, ConfigError, ConfigUnreadable, config_path, load_config
from agent.i18n import text
from agent.logs import setup_logging
from agent.status_text import status_lines
from shared.domain import AlarmKind, AlarmLevel

EXIT_NOT_PROTECTED = 1
EXIT_BAD_CONFIG = 2
EXIT_NOT_DELIVERED = 3
EXIT_CANCELLED = 4
EXIT_NO_DRILL = 5
EXIT_NO_HELP = 6  # --wait-for-help: nobody confirmed in time, or the hub said nobody reached
FORWARD_TIMEOUT = 10 + 3 + 5  # the longest countdown, the stored deadline, a margin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="silent-alarm-agent", description="Stiller Alarm – workstation agent"
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the tray agent (hotkey, tray icon, popups)")
    run.add_argument("--config", help="agent TOML file (default: $SILENT_ALARM_AGENT_CONFIG)")
    trigger = commands.add_parser(
        "trigger",
        help="raise an alarm now; exit 0 once the hub stored it, 3 if not (--wait-for-help: 6)",
    )
    trigger.add_argument("--config", help="agent TOML file (default: $SILENT_ALARM_AGENT_CONFIG)")
    trigger.add_argument(
        "--level", type=int, choices=[1, 2, 3], help="alarm level (default: hotkey_level)"
    )
    trigger.add_argument(
        "--drill",
        action="store_true",
        help="a drill alarm ('ÜBUNG'): only while the admin has a drill scheduled; exit 5 if not",
    )
    trigger.add_argument(
        "--wait-for-help",
        type=_seconds,
        metavar="SECONDS",
        help="after storing, wait up to SECONDS until someone confirmed (coming, security,"
        " arrived): exit 0 with who or how many; nobody by then or 'nobody reached': exit 6",
    )
    status = commands.add_parser(
        "status", help="print the running agent's state; exit 0 if protected, 1 if not"
    )
    status.add_argument("--config", help="agent TOML file (default: $SILENT_ALARM_AGENT_CONFIG)")
    show = commands.add_parser("show", help="open the running agent's status window")
    show.add_argument("--config", help="agent TOML file (default: $SILENT_ALARM_AGENT_CONFIG)")
    enrol = commands.add_parser(
        "enrol", help="trade a one-time enrolment code for this PC's identity; write the config"
    )
    enrol.add_argument("--hub", required=True, help="the hub's URL, e.g. http://hub:8000")
    enrol.add_argument("--code", required=True, help="one-time enrolment code from the admin")
    enrol.add_argument(
        "--config",
        help="agent TOML file to write (default: run by root /etc/silent-alarm/agent.d/"
        "50-enrolment.toml for every user, mode 0644; else $SILENT_ALARM_AGENT_CONFIG, mode 0600)",
    )
    enrol.add_argument("--hostname", help="name to enrol under (default: this PC's hostname)")
    enrol.add_argument("--force", action="store_true", help="replace an existing config")
    machine = commands.add_parser(
        "machine-config",
        help="write the installer's settings for every user of this PC (the MSI runs it as"
        " SYSTEM); an empty value is not given and keeps what is there",
    )
    machine.add_argument("--hub-urls", default="", help="ws:// or wss:// URLs, space-separated")
    machine.add_argument("--language", default="", help="de or en")
    machine.add_argument("--peer-port", default="", help="port for the direct path, 0: off")
    machine.add_argument(
        "--enrol-code",
        default="",
        help="one-time enrolment code, redeemed at the first hub unless this PC is enrolled",
    )
    machine.add_argument(
        "--folder", help="machine config folder (default: this PC's, e.g. ProgramData)"
    )
    return parser


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError("SECONDS must be more than 0 and at most 3600")
    return seconds


def _enrol(args: argparse.Namespace) -> int:
    import getpass

    from agent.enrol import EnrolError, enrol
    from agent.enrol_target import enrol_target

    try:
        target = enrol_target(args.config)
        enrolment = enrol(args.hub, args.code, target, args.hostname, args.force)
    except (EnrolError, ConfigError) as exc:
        print(f"silent-alarm-agent: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    state = "pending (waiting for a room)" if enrolment.state == "pending" else enrolment.state
    print(f"enrolled as {enrolment.workstation_id}, {state}; config written to {target.path}")
    if target.shared:
        print(f"readable by every user of this PC (mode {target.mode:04o}): their agents read it")
    else:
        print(f"readable by {getpass.getuser()} only (mode {target.mode:04o})")
    return 0


def _machine_config(args: argparse.Namespace) -> int:
    from pathlib import Path

    from agent.config import admin_places
    from agent.enrol import EnrolError
    from agent.machine_setup import given_settings, write_machine_config

    try:
        folder = Path(args.folder) if args.folder else admin_places().machine_dir
        given = given_settings(args.hub_urls, args.language, args.peer_port)
        result = write_machine_config(folder, given, args.enrol_code.strip())
    except (EnrolError, ConfigError) as exc:
        print(f"silent-alarm-agent: {exc}", file=sys.stderr)  # never the code (EnrolError)
        return EXIT_BAD_CONFIG
    print(f"machine config written to {result.path}")
    if result.enrolled_as:
        print(f"enrolled as {result.enrolled_as}")
    elif result.already_enrolled:
        print("already enrolled: the enrolment code was not used")
    return 0


def _run_unreadable(error: ConfigUnreadable, config_value: str | None) -> int:
    """`run` without a readable config: never silently unprotected, the window says so."""
    from agent.config import default_log_dir, language_hint

    setup_logging(default_log_dir(), "agent.log")
    logging.getLogger(__name__).error("not protected: %s", error)
    from agent.qtimport import import_pyside

    import_pyside()
    from agent.config_problem import run_config_problem

    return run_config_problem(error.path, language_hint(config_path(config_value)))


def _load(value: str | None) -> AgentConfig:
    return load_config(config_path(value))


def _forward(config: AgentConfig, request: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """The running agent's answer, or None when no agent runs for this data_dir."""
    from agent.instance import send_command, server_name  # Qt only when forwarding

    return send_command(server_name(config.data_dir), request, timeout)


def _trigger(config: AgentConfig, level: AlarmLevel, wait_for_help: float | None = None) -> int:
    setup_logging(config.log_dir, "trigger.log")
    reply = _forward(config, {"command": "trigger", "level": int(level)}, FORWARD_TIMEOUT)
    result = reply.get("result") if reply is not None else None
    if result == "stored":
        if wait_for_help is None:
            return 0
        import uuid

        from agent.trigger import wait_for_help as follow

        alarm_id = uuid.UUID(str((reply or {}).get("alarm_id")))
        return _helped(config, follow(config, alarm_id, wait_for_help))
    if result == "cancelled":
        print(text("cli.cancelled", config.language), file=sys.stderr)
        return EXIT_CANCELLED
    if result != "not_delivered":
        # No agent runs (or it cannot take commands yet): raise it ourselves.
        from agent.trigger import raise_and_wait

        outcome = raise_and_wait(config, level, wait_for_help=wait_for_help)
        if outcome.stored:
            return 0 if wait_for_help is None else _helped(config, outcome.help)
    print(text("tray.not_delivered", config.language), file=sys.stderr)
    return EXIT_NOT_DELIVERED


def _helped(config: AgentConfig, help_words: str | None) -> int:
    """--wait-for-help: one line saying who or how many, or the phone instruction."""
    if help_words is None:
        print(text("feedback.nobody_reached", config.language), file=sys.stderr)
        return EXIT_NO_HELP
    print(text("cli.help_confirmed", config.language, state=help_words))
    return 0


def _drill(config: AgentConfig, level: AlarmLevel) -> int:
    """A drill goes out on its own connection: never through the running agent's tray path."""
    from agent.trigger import DrillRefused, trigger_alarm

    setup_logging(config.log_dir, "trigger.log")
    try:
        if trigger_alarm(config, level, kind=AlarmKind.DRILL):
            return 0
    except DrillRefused:
        print(text("drill.refused", config.language), file=sys.stderr)
        return EXIT_NO_DRILL
    print(text("tray.not_delivered", config.language), file=sys.stderr)
    return EXIT_NOT_DELIVERED


def _status(config: AgentConfig) -> int:
    reply = _forward(config, {"command": "status"}, 5.0)
    if reply is None or not reply.get("ok"):
        print(text("status.not_running", config.language))
        locked = ", ".join(sorted(config.shown_locked_keys)) or "–"
        print(text("status.locked", config.language, name=locked))
        return EXIT_NOT_PROTECTED
    for line in status_lines(reply, config.language):
        print(line)
    return 0 if reply.get("protected") else EXIT_NOT_PROTECTED


def _show(config: AgentConfig) -> int:
    reply = _forward(config, {"command": "show"}, 5.0)
    if reply is None or not reply.get("ok"):
        print(text("status.not_running", config.language), file=sys.stderr)
        return EXIT_NOT_PROTECTED
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "enrol":
        return _enrol(args)
    if args.command == "machine-config":
        return _machine_config(args)
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"silent-alarm-agent: {exc}", file=sys.stderr)
        if args.command == "run" and isinstance(exc, ConfigUnreadable):
            return _run_unreadable(exc, args.config)
        return EXIT_BAD_CONFIG
    session = remote_session.current()
    if session is not None:
        config = config.model_copy(
            update={"data_dir": remote_session.session_data_dir(config.data_dir, session)}
        )
    if args.command == "trigger":
        level = AlarmLevel(args.level) if args.level else config.hotkey_level
        if args.drill and args.wait_for_help is not None:
            print(
                "silent-alarm-agent: --wait-for-help is for real alarms, not drills",
                file=sys.stderr,
            )
            return EXIT_BAD_CONFIG
        if args.drill:
            return _drill(config, level)
        return _trigger(config, level, args.wait_for_help)
    if args.command == "status":
        return _status(config)
    if args.command == "show":
        return _show(config)
    setup_logging(config.log_dir, "agent.log")
    from agent.qtimport import import_pyside  # Qt only for the tray agent

    import_pyside()  # before agent.app: ~9 MB less RSS (see agent/qtimport.py)
    from agent.app import run_app

    return run_app(config, session)


if __name__ == "__main__":
    sys.exit(main())

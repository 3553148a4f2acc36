"""The agent's user-facing texts in German (default) and English, keyed by message id.

The mechanism is the console's too (:class:`shared.i18n.Catalogue`); only the texts differ.
"""

from __future__ import annotations

from shared.domain import AlarmLevel
from shared.i18n import Catalogue, Language

__all__ = ["CATALOGUE", "Language", "level_name", "message_ids", "text"]

_TEXTS: dict[str, dict[Language, str]] = {
    "app.name": {"de": "Stiller Alarm", "en": "Silent alarm"},
    "level.1": {"de": "Unterstützung", "en": "Support"},
    "level.2": {"de": "Bedrohung", "en": "Threat"},
    "level.3": {"de": "Gefahr / Amok", "en": "Danger / attack"},
    "popup.title": {"de": "Stiller Alarm – Raum {room}", "en": "Stiller Alarm – room {room}"},
    "popup.title_no_room": {"de": "Stiller Alarm – {level}", "en": "Stiller Alarm – {level}"},
    "popup.title_drill": {
        "de": "Stiller Alarm – ÜBUNG – {rest}",
        "en": "Stiller Alarm – DRILL – {rest}",
    },
    "popup.drill": {
        "de": "ÜBUNG – kein Ernstfall",
        "en": "DRILL – not a real emergency",
    },
    "popup.room": {"de": "Raum {number} – {name}", "en": "Room {number} – {name}"},
    "popup.floor": {"de": "Etage: {floor}", "en": "Floor: {floor}"},
    "popup.raiser": {"de": "Ausgelöst von: {raiser}", "en": "Raised by: {raiser}"},
    "popup.responders": {"de": "Unterwegs: {names}", "en": "On the way: {names}"},
    "popup.no_responders": {"de": "Noch niemand unterwegs", "en": "Nobody on the way yet"},
    "popup.secure_and_call_police": {
        # The console's order too (level_3_instruction): the police first, then go.
        "de": "Polizei (110) verständigen, dann sofort hingehen und den Bereich sichern.",
        "en": "Call the police (110), then go now and secure the area.",
    },
    "popup.come_help": {
        "de": "Bitte gehen Sie sofort in den Raum und unterstützen Sie Ihre Kollegin / Ihren"
        " Kollegen.",
        "en": "Please go to the room now and support your colleague.",
    },
    "popup.stay_away": {
        "de": "NICHT in den Bereich gehen – Tür abschließen, Abstand halten",
        "en": "Do NOT go to the area – lock your door, keep away",
    },
    "popup.coming": {"de": "&Ich komme", "en": "&I'm coming"},
    "popup.cannot": {"de": "&Kann nicht", "en": "&Can't"},
    "popup.understood": {"de": "&Verstanden", "en": "&Understood"},
    "allclear.title": {"de": "Stiller Alarm – Entwarnung", "en": "Stiller Alarm – all clear"},
    "allclear.resolved_room": {
        "de": "Entwarnung für Raum {number} – {name}. Die Lage ist geklärt.",
        "en": "All clear for room {number} – {name}. The situation is resolved.",
    },
    "allclear.resolved_stay_away": {
        "de": "Entwarnung: Die Gefahrenlage ist beendet. Sie können Ihre Tür wieder öffnen.",
        "en": "All clear: the danger is over. You may unlock your door again.",
    },
    "allclear.cancelled": {
        "de": "Der Alarm wurde zurückgenommen. Danke für Ihre Bereitschaft – Sie müssen nicht"
        " mehr hingehen.",
        "en": "The alarm was withdrawn. Thank you for being ready to help – you need not go"
        " any more.",
    },
    "allclear.cancelled_stay_away": {
        # A withdrawn level-3 alarm may have been withdrawn under pressure.
        "de": "Der Alarm wurde zurückgenommen. Bleiben Sie hinter verschlossener Tür, bis der"
        " Sicherheitsdienst Entwarnung gibt.",
        "en": "The alarm was withdrawn. Stay behind your locked door until security gives the"
        " all clear.",
    },
    "allclear.ok": {"de": "&OK", "en": "&OK"},
    # --- issue 13: what colleagues and security see (location, "Bin da", withdrawn room) ---
    "popup.building_floor": {
        "de": "{building} · Etage: {floor}",
        "en": "{building} · floor: {floor}",
    },
    "popup.entrance": {"de": "Nächster Eingang: {entrance}", "en": "Nearest entrance: {entrance}"},
    "popup.phone": {"de": "Telefon im Raum: {phone}", "en": "Phone in the room: {phone}"},
    "popup.arrived": {"de": "&Bin da", "en": "I'm &here"},
    "popup.on_the_way": {
        "de": "Sie sind unterwegs. Drücken Sie „Bin da“, sobald Sie im Raum sind.",
        "en": "You are on your way. Press “I'm here” as soon as you are in the room.",
    },
    "allclear.cancelled_room": {
        # Named so that security can follow up: a raiser may have been made to withdraw.
        "de": "Der Alarm aus Raum {number} – {name} wurde zurückgenommen. Der"
        " Sicherheitsdienst fragt dort nach; danke für Ihre Bereitschaft.",
        "en": "The alarm from room {number} – {name} was withdrawn. Security follows up"
        " there; thank you for being ready to help.",
    },
    # --- end issue 13 ---
    # --- issue 15: one popup per raiser, however many alarms it raised (agent/popup_groups.py)
    "popup.count": {
        "de": "{count} Alarme aus Raum {room}",
        "en": "{count} alarms from room {room}",
    },
    "popup.count_no_room": {"de": "{count} Alarme", "en": "{count} alarms"},
    "popup.title_count": {"de": "{title} ({count} Alarme)", "en": "{title} ({count} alarms)"},
    # --- end issue 15 ---
    "tray.ready": {"de": "Stiller Alarm – bereit", "en": "Silent alarm – ready"},
    "tray.not_protected": {
        "de": "Stiller Alarm – keine Verbindung, nicht geschützt",
        "en": "Silent alarm – no connection, not protected",
    },
    "tray.sent": {"de": "Stiller Alarm – gesendet", "en": "Silent alarm – sent"},
    "tray.stored": {"de": "Stiller Alarm – angekommen", "en": "Silent alarm – received"},
    "tray.coming": {
        "de": "Stiller Alarm – Hilfe unterwegs ({count})",
        "en": "Silent alarm – help on the way ({count})",
    },
    "tray.resolved": {"de": "Stiller Alarm – Entwarnung", "en": "Silent alarm – all clear"},
    "feedback.peers_told": {
        "de": "Zentrale nicht erreichbar – Nachbarn direkt benachrichtigt ({told} von {asked})",
        "en": "Control centre unreachable – neighbours alerted directly ({told} of {asked})",
    },
    "popup.no_hub": {"de": "Zentrale nicht erreichbar", "en": "Control centre unreachable"},
    "tray.not_delivered": {
        "de": "Alarm nicht zugestellt – bitte telefonisch Hilfe holen",
        "en": "Alarm not delivered – please call for help by phone",
    },
    "menu.level3": {
        "de": "Gefahr / Amok (Stufe 3) auslösen",
        "en": "Raise danger / attack (level 3)",
    },
    "menu.quit": {"de": "Beenden", "en": "Quit"},
    "menu.self_test": {"de": "Selbsttest jetzt", "en": "Self-test now"},
    "menu.log_folder": {"de": "Protokollordner öffnen", "en": "Open log folder"},
    "menu.status": {"de": "Status und Einstellungen", "en": "Status and settings"},
    "menu.cancel_alarm": {
        "de": "Alarm zurücknehmen (noch {count} s)",
        "en": "Withdraw alarm ({count} s left)",
    },
    "countdown.text": {
        "de": "Alarm wird in {count} s gesendet",
        "en": "Alarm will be sent in {count} s",
    },
    "countdown.cancel": {"de": "Abbrechen", "en": "Cancel"},
    "status.yes": {"de": "ja", "en": "yes"},
    "status.no": {"de": "nein", "en": "no"},
    "status.workstation": {"de": "Arbeitsplatz: {name}", "en": "Workstation: {name}"},
    "status.connected": {"de": "Verbunden: {name}", "en": "Connected: {name}"},
    "status.protected": {"de": "Geschützt: ja", "en": "Protected: yes"},
    "status.not_protected": {"de": "Geschützt: NEIN", "en": "Protected: NO"},
    "status.hotkeys": {"de": "Tastenkürzel: {name}", "en": "Hotkeys: {name}"},
    "status.locked": {
        "de": "Per Richtlinie festgelegt: {name}",
        "en": "Locked by policy: {name}",
    },
    "status.not_running": {
        "de": "Stiller Alarm läuft nicht – nicht geschützt",
        "en": "Silent alarm is not running – not protected",
    },
    # --- the workstation's room in the status (issue 13: wrong or missing room) ---
    "status.room": {
        "de": "Raum {number} – {name}, {floor}",
        "en": "Room {number} – {name}, {floor}",
    },
    "status.no_room": {"de": "Raum: kein Raum zugeordnet", "en": "Room: none assigned"},
    # issue 19: a remote session's room is its client device's, named after the room
    "status.session_of": {"de": "(Sitzung von {name})", "en": "(session of {name})"},
    "status.room_unknown": {
        "de": "Raum: noch unbekannt (nie verbunden)",
        "en": "Room: not known yet (never connected)",
    },
    # --- end of the room block ---
    "menu.drill": {"de": "Übungsalarm auslösen", "en": "Raise drill alarm"},
    "drill.title": {"de": "Stiller Alarm – Übungsalarm", "en": "Stiller Alarm – drill alarm"},
    "drill.sending": {
        "de": "ÜBUNG – Übungsalarm wird gesendet …",
        "en": "DRILL – sending the drill alarm …",
    },
    "drill.stored": {
        "de": "ÜBUNG – Übungsalarm angekommen. Kein Ernstfall.",
        "en": "DRILL – drill alarm received. Not a real emergency.",
    },
    "drill.not_delivered": {
        "de": "ÜBUNG – Übungsalarm noch nicht angekommen, wird weiter gesendet",
        "en": "DRILL – drill alarm not received yet, still sending",
    },
    "drill.refused": {
        "de": "Keine Übung geplant – Übungsalarm nicht gesendet",
        "en": "No drill scheduled – drill alarm not sent",
    },
    "cli.cancelled": {
        "de": "Alarm im Countdown abgebrochen – nichts gesendet",
        "en": "Alarm cancelled during the countdown – nothing sent",
    },
    "instance.running": {
        "de": "Stiller Alarm läuft bereits.",
        "en": "Silent alarm is already running.",
    },
    # --- issue 13: never silently unprotected (agent/notice.py, status, tray) ---
    "notprot.title": {
        "de": "Stiller Alarm – Nicht geschützt",
        "en": "Stiller Alarm – Not protected",
    },
    "notprot.line": {"de": "Nicht geschützt: {reason}", "en": "Not protected: {reason}"},
    "notprot.close": {"de": "&Schließen", "en": "&Close"},
    # issue 18: an agent that cannot read a config file has no identity and no hub
    "notprot.config_unreadable": {
        "de": "Konfiguration nicht lesbar ({path}) – bitte IT informieren",
        "en": "configuration not readable ({path}) – please tell IT",
    },
    "reason.no_hub": {
        "de": "keine Verbindung zur Alarmzentrale – bitte IT informieren",
        "en": "no connection to the alarm hub – please tell IT",
    },
    "reason.hub_cannot_store": {
        "de": "Zentrale kann nicht speichern – im Notfall Telefon benutzen, bitte IT informieren",
        "en": "the hub cannot store alarms – in an emergency use the phone, please tell IT",
    },
    "reason.hotkey_unavailable": {
        "de": "Tastenkombination {hotkey} konnte nicht registriert werden – bitte IT informieren",
        "en": "the key combination {hotkey} could not be registered – please tell IT",
    },
    "reason.no_tray": {
        "de": "kein Tray-Symbol möglich (keine Taskleiste) – bitte IT informieren",
        "en": "no tray icon possible (no panel) – please tell IT",
    },
    "reason.no_room": {
        "de": "diesem PC ist kein Raum zugewiesen – bitte IT informieren",
        "en": "no room is assigned to this PC – please tell IT",
    },
    "reason.session_unmapped": {
        "de": "Raum für diese Remote-Sitzung unbekannt (kein Client-Name) – bitte IT informieren",
        "en": "room unknown for this remote session (no client name) – please tell IT",
    },
    "reason.self_test_failed": {
        "de": "der letzte Selbsttest ist fehlgeschlagen – bitte IT informieren",
        "en": "the last self-test failed – please tell IT",
    },
    "tray.cancel_window": {
        "de": "Alarm gesendet – zurücknehmen: noch {count} s (Rechtsklick)",
        "en": "Alarm sent – withdraw: {count} s left (right-click)",
    },
    # --- end issue 13 ---
    # --- issue 13: the raiser is told the truth (notice window, tray, trigger --wait-for-help)
    "feedback.title": {
        "de": "Stiller Alarm – Rückmeldung",
        "en": "Stiller Alarm – Rückmeldung",  # fixed: tests and support find the window by it
    },
    "feedback.hide": {"de": "&Ausblenden", "en": "&Hide"},
    "feedback.line": {"de": "Alarm {time}: {state}", "en": "Alarm {time}: {state}"},
    "feedback.line_drill": {
        "de": "ÜBUNG – Alarm {time}: {state}",
        "en": "DRILL – alarm {time}: {state}",
    },
    "feedback.line_earlier": {
        "de": "Früherer Alarm: {state}",
        "en": "Earlier alarm: {state}",
    },
    "feedback.line_earlier_drill": {
        "de": "ÜBUNG – früherer Alarm: {state}",
        "en": "DRILL – earlier alarm: {state}",
    },
    "feedback.sent": {"de": "wird gesendet …", "en": "sending …"},
    "feedback.stored": {
        "de": "angekommen, noch keine Bestätigung",
        "en": "received, not confirmed yet",
    },
    "feedback.delivered": {"de": "zugestellt", "en": "delivered"},
    "feedback.coming_one": {"de": "1 kommt", "en": "1 is coming"},
    "feedback.coming_many": {"de": "{count} kommen", "en": "{count} are coming"},
    "feedback.coming_names": {"de": "Kommt: {names}", "en": "Coming: {names}"},
    "feedback.acknowledged": {
        "de": "Sicherheitsdienst hat übernommen",
        "en": "Security has taken over",
    },
    "feedback.arrived": {"de": "Hilfe ist da", "en": "Help is there"},
    "feedback.nobody_reached": {
        "de": "Niemand erreicht – bitte telefonisch Hilfe holen (110)",
        "en": "Nobody reached – please call for help by phone (110)",
    },
    "feedback.resolved": {"de": "beendet", "en": "over"},
    "tray.delivered": {"de": "Stiller Alarm – zugestellt", "en": "Silent alarm – delivered"},
    "tray.acknowledged": {
        "de": "Stiller Alarm – Sicherheitsdienst hat übernommen",
        "en": "Silent alarm – security has taken over",
    },
    "tray.arrived": {"de": "Stiller Alarm – Hilfe ist da", "en": "Silent alarm – help is there"},
    "tray.nobody_reached": {
        "de": "Niemand erreicht – bitte telefonisch Hilfe holen (110)",
        "en": "Nobody reached – please call for help by phone (110)",
    },
    "cli.help_confirmed": {"de": "Hilfe bestätigt: {state}", "en": "Help confirmed: {state}"},
}


CATALOGUE = Catalogue.from_entries(_TEXTS)


def text(message_id: str, language: Language = "de", **values: object) -> str:
    """The text for message_id in language, with {placeholders} filled in."""
    return CATALOGUE.text(message_id, language, **values)


def level_name(level: AlarmLevel, language: Language = "de") -> str:
    return text(f"level.{int(level)}", language)


def message_ids() -> frozenset[str]:
    return CATALOGUE.ids()

"""The console's message catalogue: German first, English on request.

A plain mapping of language → key → text, used by the Jinja templates and
(embedded as JSON) by ``console.js``. Placeholders are written ``{name}`` and
filled in by the caller. Every language must have exactly the keys of the
default language; a test checks it.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "de"
LANGUAGES: Final = ("de", "en")

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "de": {
        "html_lang": "de",
        "app_title": "Stiller Alarm – Zentrale",
        "switch_language": "English",
        "switch_language_code": "en",
        # login
        "login_title": "Anmeldung",
        "login_intro": "Bitte melden Sie sich mit Ihrem Zugang für die Alarmzentrale an.",
        "login_username": "Benutzername",
        "login_password": "Passwort",
        "login_submit": "Anmelden",
        "login_failed": "Anmeldung fehlgeschlagen. Bitte prüfen Sie Ihre Eingaben.",
        "csrf_failed": (
            "Sicherheitsprüfung fehlgeschlagen: Das Formular ist abgelaufen oder stammt nicht "
            "von dieser Seite. Bitte laden Sie die Seite neu und versuchen Sie es erneut."
        ),
        "error_title": "Fehler",
        "back_to_console": "Zurück zur Zentrale",
        # console header
        "signed_in_as": "Angemeldet:",
        "logout": "Abmelden",
        "connection_open": "verbunden",
        "connection_connecting": "verbinde…",
        "connection_lost": "getrennt",
        "banner_reconnecting": "Verbindung getrennt – verbinde neu…",
        "banner_next_try": "Nächster Versuch in {seconds} s",
        "banner_stale": "Die angezeigten Alarme sind möglicherweise nicht aktuell.",
        "noscript": "Die Alarmzentrale benötigt JavaScript.",
        # alarm list
        "open_alarms": "Offene Alarme",
        "no_open_alarms": "Keine offenen Alarme.",
        "loading": "Lade Alarme…",
        "recently_resolved": "Kürzlich erledigt",
        "level_badge": "Stufe {level}",
        "level_1": "Unterstützung",
        "level_2": "Bedrohung",
        "level_3": "Gefahr / Amok",
        "level_3_instruction": (
            "Polizei (110) verständigen · Bereich sichern · Kolleginnen und Kollegen NICHT "
            "in den Raum schicken"
        ),
        "room_unassigned": "Raum nicht zugeordnet",
        "workstation": "PC {id}",
        "raised_by": "Ausgelöst von {name}",
        "raised_by_unknown": "Auslöser unbekannt",
        "trigger_hotkey": "per Tastenkürzel",
        "trigger_tray": "per Tray-Symbol",
        "trigger_cli": "per Kommandozeile",
        "raised_at": "um {time}",
        "ago_seconds": "vor {n} s",
        "ago_minutes": "vor {n} min",
        "ago_hours": "vor {n} h",
        "delivered": "zugestellt {delivered} von {recipients}",
        "no_recipients": "keine Empfänger",
        "responders": "Rückmeldungen",
        "no_responders": "noch keine Rückmeldung",
        "answer_coming": "kommt",
        "answer_cannot": "kann nicht",
        "state_active": "aktiv",
        "state_acknowledged": "übernommen von {name}",
        "state_resolved": "erledigt von {name}",
        "state_cancelled": "vom Auslöser abgebrochen – bitte nachfassen",
        "escalated": "Kreis erweitert ({step}×)",
        "someone": "unbekannt",
        "acknowledge": "Übernehmen",
        "resolve": "Erledigt / Entwarnung",
        "dismiss": "Schließen",
        "error_unknown_alarm": "Dieser Alarm ist der Zentrale nicht bekannt.",
        "error_not_allowed": "Diese Aktion ist für den Alarm nicht (mehr) möglich.",
        "error_generic": "Die Zentrale meldet einen Fehler.",
    },
    "en": {
        "html_lang": "en",
        "app_title": "Silent Alarm – Dispatch",
        "switch_language": "Deutsch",
        "switch_language_code": "de",
        "login_title": "Sign in",
        "login_intro": "Please sign in with your dispatch console account.",
        "login_username": "Username",
        "login_password": "Password",
        "login_submit": "Sign in",
        "login_failed": "Sign-in failed. Please check your details.",
        "csrf_failed": (
            "Security check failed: the form has expired or did not come from this page. "
            "Please reload the page and try again."
        ),
        "error_title": "Error",
        "back_to_console": "Back to the console",
        "signed_in_as": "Signed in:",
        "logout": "Sign out",
        "connection_open": "connected",
        "connection_connecting": "connecting…",
        "connection_lost": "disconnected",
        "banner_reconnecting": "Connection lost – reconnecting…",
        "banner_next_try": "Next attempt in {seconds} s",
        "banner_stale": "The alarms shown may be out of date.",
        "noscript": "The dispatch console needs JavaScript.",
        "open_alarms": "Open alarms",
        "no_open_alarms": "No open alarms.",
        "loading": "Loading alarms…",
        "recently_resolved": "Recently resolved",
        "level_badge": "Level {level}",
        "level_1": "Support",
        "level_2": "Threat",
        "level_3": "Danger / attack",
        "level_3_instruction": (
            "Call the police (110) · secure the area · do NOT send colleagues into the room"
        ),
        "room_unassigned": "Room not assigned",
        "workstation": "PC {id}",
        "raised_by": "Raised by {name}",
        "raised_by_unknown": "Raised by: unknown",
        "trigger_hotkey": "via hotkey",
        "trigger_tray": "via tray icon",
        "trigger_cli": "via command line",
        "raised_at": "at {time}",
        "ago_seconds": "{n} s ago",
        "ago_minutes": "{n} min ago",
        "ago_hours": "{n} h ago",
        "delivered": "delivered {delivered} of {recipients}",
        "no_recipients": "no recipients",
        "responders": "Answers",
        "no_responders": "no answer yet",
        "answer_coming": "coming",
        "answer_cannot": "can't come",
        "state_active": "active",
        "state_acknowledged": "taken by {name}",
        "state_resolved": "resolved by {name}",
        "state_cancelled": "cancelled by the raiser – please follow up",
        "escalated": "circle widened ({step}×)",
        "someone": "unknown",
        "acknowledge": "Take over",
        "resolve": "Resolved / all clear",
        "dismiss": "Dismiss",
        "error_unknown_alarm": "The hub does not know this alarm.",
        "error_not_allowed": "This action is not (or no longer) possible for the alarm.",
        "error_generic": "The hub reports an error.",
    },
}


def language(value: object) -> str:
    """A supported language code for ``value``, else the default (German)."""
    if isinstance(value, str) and value in MESSAGES:
        return value
    return DEFAULT_LANGUAGE


def messages(lang: str) -> dict[str, str]:
    """The whole catalogue of one language (the default for an unknown code)."""
    return MESSAGES[language(lang)]

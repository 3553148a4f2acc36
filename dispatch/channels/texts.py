"""The outbound messages' texts (e-mail, SMS, pager, push): German first, English on request."""

from __future__ import annotations

from typing import Final

from shared.i18n import Catalogue

CATALOGUE: Final = Catalogue(
    {
        "de": {
            "level_1": "Unterstützung",
            "level_2": "Bedrohung",
            "level_3": "Gefahr / Amok",
            "drill": "ÜBUNG",
            "subject_room": "Stiller Alarm Stufe {level} {level_name}: Raum {room}",
            "subject_no_room": "Stiller Alarm Stufe {level} {level_name}: Standort {site}",
            "subject_stay_away": "Stiller Alarm Stufe 3 {level_name}: Tür abschließen, "
            "Bereich meiden",
            "stay_away": "Gefahr am Standort {site}. Schließen Sie Ihre Tür ab, bleiben Sie im "
            "Raum und meiden Sie Flure und Eingänge. Rufen Sie nicht zurück. Warten Sie auf "
            "Entwarnung.",
            "come_help": "Bitte kommen Sie zur Unterstützung: Raum {room}.",
            "secure_and_call_police": "Polizei rufen (110), Bereich sichern. Raum {room}.",
            "security_help": "Bitte sofort zu Raum {room}.",
            "no_room": "Der PC {workstation} ist keinem Raum zugeordnet.",
            "where": "Ort: Raum {room} ({name}), {floor}{building}",
            "entrance": "Nächster Eingang: {entrance}",
            "phone": "Telefon im Raum: {phone}",
            "raiser": "Ausgelöst von: {raiser}",
            "site": "Standort: {site}",
            "stored_at": "Gemeldet: {time} UTC",
            # The all-clear (dispatch/channels/content.py render_all_clear): for staff
            # the same words after a resolve, a withdrawal and a duress withdrawal.
            "all_clear_subject_room": "Entwarnung: Stiller Alarm Stufe {level} {level_name}, "
            "Raum {room}, ist beendet",
            "all_clear_subject_site": "Entwarnung: Stiller Alarm Stufe {level} {level_name} "
            "am Standort {site} ist beendet",
            "all_clear_room": "Entwarnung: Der Stille Alarm in Raum {room} ist beendet.",
            "all_clear_site": "Entwarnung: Der Stille Alarm am Standort {site} ist beendet.",
            # Security and the emergency manager after a withdrawal: as the console says it.
            "withdrawn_subject_room": "Stiller Alarm Stufe {level} {level_name}, Raum {room}: "
            "zurückgenommen – bitte nachfassen",
            "withdrawn_subject_site": "Stiller Alarm Stufe {level} {level_name}, Standort "
            "{site}: zurückgenommen – bitte nachfassen",
            "withdrawn_room": "Die auslösende Person hat den Alarm zurückgenommen. Bitte in Raum "
            "{room} nachfassen: Wer bedroht wird, kann dazu gezwungen worden sein.",
            "withdrawn_site": "Die auslösende Person hat den Alarm am PC {workstation} "
            "zurückgenommen. Bitte nachfassen: Wer bedroht wird, kann dazu gezwungen worden sein.",
            "test_subject": "Stiller Alarm: Testnachricht",
            "test_body": "Dies ist eine Testnachricht von Stiller Alarm an {label}. Es liegt "
            "kein Alarm vor.",
        },
        "en": {
            "level_1": "Support",
            "level_2": "Threat",
            "level_3": "Danger / attack",
            "drill": "DRILL",
            "subject_room": "Silent alarm level {level} {level_name}: room {room}",
            "subject_no_room": "Silent alarm level {level} {level_name}: site {site}",
            "subject_stay_away": "Silent alarm level 3 {level_name}: lock your door, stay away",
            "stay_away": "Danger at {site}. Lock your door, stay in the room and keep away from "
            "corridors and entrances. Do not call back. Wait for the all-clear.",
            "come_help": "Please come and help: room {room}.",
            "secure_and_call_police": "Call the police (110), secure the area. Room {room}.",
            "security_help": "Please go to room {room} at once.",
            "no_room": "PC {workstation} has no room assigned.",
            "where": "Location: room {room} ({name}), {floor}{building}",
            "entrance": "Nearest entrance: {entrance}",
            "phone": "Phone in the room: {phone}",
            "raiser": "Raised by: {raiser}",
            "site": "Site: {site}",
            "stored_at": "Reported: {time} UTC",
            "all_clear_subject_room": "All clear: silent alarm level {level} {level_name}, "
            "room {room}, is over",
            "all_clear_subject_site": "All clear: silent alarm level {level} {level_name} at "
            "{site} is over",
            "all_clear_room": "All clear: the silent alarm in room {room} is over.",
            "all_clear_site": "All clear: the silent alarm at {site} is over.",
            "withdrawn_subject_room": "Silent alarm level {level} {level_name}, room {room}: "
            "withdrawn – please follow up",
            "withdrawn_subject_site": "Silent alarm level {level} {level_name}, site {site}: "
            "withdrawn – please follow up",
            "withdrawn_room": "The person who raised it has withdrawn the alarm. Please follow up "
            "in room {room}: someone under threat may have been made to withdraw it.",
            "withdrawn_site": "The person who raised it has withdrawn the alarm at PC "
            "{workstation}. Please follow up: someone under threat may have been made to "
            "withdraw it.",
            "test_subject": "Silent alarm: test message",
            "test_body": "This is a test message from Silent Alarm to {label}. There is no alarm.",
        },
    }
)

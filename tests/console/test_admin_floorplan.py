"""The floor-plan page in Chromium against a real hub: upload, place by clicking, neighbours."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, Route, expect

from tests.support.hub import RunningHub
from tests.support.waiting import wait_until

API = "/api/v1"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "admin-floorplan.png"
WIDTH_M, HEIGHT_M = 30.0, 10.0


def plan_svg() -> bytes:
    """A 30 m × 10 m floor: a corridor and five offices in a row, as an architect's SVG export."""
    rooms = "".join(
        f'<rect x="{20 + i * 50}" y="10" width="45" height="45" fill="#f3f4f6" stroke="#374151"/>'
        f'<text x="{42 + i * 50}" y="36" font-size="8" text-anchor="middle">1.0{i + 1}</text>'
        for i in range(5)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 100" width="1200" height="400">'
        '<rect x="0" y="0" width="300" height="100" fill="#fff" stroke="#111827" stroke-width="2"/>'
        '<rect x="0" y="60" width="300" height="25" fill="#e5e7eb"/>'
        f"{rooms}</svg>"
    ).encode()


def floor_id(api: httpx.Client, name: str) -> int:
    floors = api.get(f"{API}/floors").json()
    return int(next(f["id"] for f in floors if f["name"] == name))


def room_id(api: httpx.Client, number: str) -> int:
    return int(next(r["id"] for r in api.get(f"{API}/rooms").json() if r["number"] == number))


def upload_plan(
    page: Page, data: bytes, name: str = "og1.svg", mime: str = "image/svg+xml"
) -> None:
    form = page.get_by_test_id("plan-upload")
    form.get_by_label("Datei").set_input_files({"name": name, "mimeType": mime, "buffer": data})
    # Typed as a German would: the decimal comma is understood (admin.js decimalText).
    form.get_by_label("Breite des Plans (m)").fill(f"{WIDTH_M:.1f}".replace(".", ","))
    form.get_by_label("Höhe des Plans (m)").fill(f"{HEIGHT_M:.1f}".replace(".", ","))
    form.get_by_role("button", name="Hochladen").click()


def test_an_admin_places_a_room_and_an_entrance_by_clicking_on_the_plan(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    floor = floor_id(admin_api, "1. OG")
    room = room_id(admin_api, "1.03")
    page.goto(f"{demo_hub.url}/admin/floors/{floor}")
    expect(page.get_by_text("Für diese Etage ist noch kein Grundriss hochgeladen.")).to_be_visible()

    upload_plan(page, plan_svg())
    image = page.get_by_test_id("plan-image")
    expect(image).to_be_visible()
    layout = admin_api.get(f"{API}/floors/{floor}/layout").json()
    assert layout["has_plan"] is True
    assert (layout["width_m"], layout["height_m"]) == (WIDTH_M, HEIGHT_M)

    # Room 1.03: "Platzieren", then a click at 47.5 % across and 45 % down the shown plan.
    page.get_by_test_id("room-row").filter(has_text="1.03").get_by_test_id("place-room").click()
    expect(page.get_by_test_id("mode")).to_contain_text("Raum 1.03")
    box = image.bounding_box()
    assert box is not None
    assert box["width"] > 300, box
    image.click(position={"x": box["width"] * 0.475, "y": box["height"] * 0.45})

    def moved() -> dict[str, float] | None:
        found: dict[str, float] = admin_api.get(f"{API}/rooms/{room}").json()
        return found if (found["x_m"], found["y_m"]) != (14.0, 4.0) else None  # as seeded

    position = wait_until(moved, what="room 1.03 moved")
    assert position is not None
    assert abs(position["x_m"] - 0.475 * WIDTH_M) < 0.05, position
    assert abs(position["y_m"] - 0.45 * HEIGHT_M) < 0.05, position
    expect(page.get_by_test_id("mode")).to_be_hidden()
    marker = page.locator('[data-testid=room-marker][data-number="1.03"]')
    expect(marker).to_be_visible()
    marker_box = marker.bounding_box()
    assert marker_box is not None
    # The marker sits where the click was (its centre, within a couple of pixels).
    assert abs(marker_box["x"] + marker_box["width"] / 2 - (box["x"] + box["width"] * 0.475)) < 3

    # An entrance: its label first, then a click near the left end of the corridor.
    entrance_form = page.get_by_test_id("entrance-form")
    entrance_form.get_by_label("Bezeichnung").fill("Treppenhaus West")
    entrance_form.get_by_role("button", name="Auf dem Plan markieren").click()
    image.click(position={"x": box["width"] * 0.12, "y": box["height"] * 0.72})
    expect(page.locator('[data-testid=entrance][data-label="Treppenhaus West"]')).to_be_visible()
    entrances = admin_api.get(f"{API}/floors/{floor}/layout").json()["entrances"]
    assert [e["label"] for e in entrances] == ["Treppenhaus West"]
    assert abs(entrances[0]["x_m"] - 0.12 * WIDTH_M) < 0.05
    assert abs(entrances[0]["y_m"] - 0.72 * HEIGHT_M) < 0.05

    # The rest of the demo rooms on the plan too, for the screenshot the README shows.
    rest = {"1.01": 0.142, "1.02": 0.308, "1.04": 0.642, "1.05": 0.808}
    for number, x in rest.items():
        page.get_by_test_id("room-row").filter(has_text=number).get_by_test_id("place-room").click()
        image.click(position={"x": box["width"] * x, "y": box["height"] * 0.45})
        expect(page.get_by_test_id("mode")).to_be_hidden()
    page.get_by_test_id("room-row").filter(has_text="1.03").get_by_test_id("choose-room").click()
    expect(page.get_by_test_id("neighbour")).to_have_count(2)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=False)


def test_a_room_position_can_be_typed_and_a_refused_value_shows_the_api_message(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    floor = floor_id(admin_api, "1. OG")
    room = room_id(admin_api, "1.02")
    page.goto(f"{demo_hub.url}/admin/floors/{floor}")
    page.get_by_test_id("room-row").filter(has_text="1.02").get_by_test_id("choose-room").click()
    details = page.get_by_test_id("room-details")
    details.get_by_label("X (m)").fill("abc")
    details.get_by_role("button", name="Speichern").click()
    # pydantic's refusal in German, next to the field (not "Input should be a valid number").
    expect(details.get_by_text("Bitte eine Zahl eingeben, z. B. 12,5.")).to_be_visible()
    expect(details.get_by_text("Input should be")).to_have_count(0)
    assert admin_api.get(f"{API}/rooms/{room}").json()["x_m"] == 9.0  # nothing half-saved

    details.get_by_label("Y (m)").fill("200000")
    details.get_by_label("X (m)").fill("12,5")
    details.get_by_role("button", name="Speichern").click()
    expect(details.get_by_text("Bitte eine Zahl bis höchstens 100.000 eingeben.")).to_be_visible()
    assert admin_api.get(f"{API}/rooms/{room}").json()["x_m"] == 9.0

    # The German decimal comma is a number.
    details.get_by_label("Y (m)").fill("4")
    details.get_by_role("button", name="Speichern").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Gespeichert")
    assert admin_api.get(f"{API}/rooms/{room}").json()["x_m"] == 12.5

    details.get_by_label("X (m)").fill("10.5")
    details.get_by_role("button", name="Speichern").click()
    # The notice still says "Gespeichert" from the save before: wait for the value itself.
    wait_until(lambda: admin_api.get(f"{API}/rooms/{room}").json()["x_m"] == 10.5, 10, what="10.5")

    # In English the same refusal is English.
    page.goto(f"{demo_hub.url}/admin/floors/{floor}?lang=en")
    page.get_by_test_id("room-row").filter(has_text="1.02").get_by_test_id("choose-room").click()
    details.get_by_label("X (m)").fill("abc")
    details.get_by_role("button", name="Save").click()
    expect(details.get_by_text("Please enter a number, e.g. 12.5.")).to_be_visible()


def test_a_file_that_is_no_plan_is_refused_with_the_api_message(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    floor = floor_id(admin_api, "1. OG")
    page.goto(f"{demo_hub.url}/admin/floors/{floor}")
    upload_plan(page, b"name,room\nA,1.01\n", name="plan.csv", mime="text/csv")
    expect(page.get_by_test_id("plan-upload").get_by_test_id("form-error")).to_contain_text(
        "only PNG or SVG floor plans are accepted"
    )
    assert admin_api.get(f"{API}/floors/{floor}/layout").json()["has_plan"] is False


def test_a_size_typed_before_the_floor_has_loaded_is_kept_and_uploaded(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    """The admin types the plan's size while the floor's layout is still on its way (held
    here). When it arrives it must not blank the fields: the upload then went without
    the size and was refused with "bitte die markierten Felder prüfen" (found by a full
    run on a busy machine, where the layout came after the first keystrokes)."""
    page = admin_page
    floor = floor_id(admin_api, "1. OG")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(f"**{API}/floors/{floor}/layout", hold)
    page.goto(f"{demo_hub.url}/admin/floors/{floor}")
    form = page.get_by_test_id("plan-upload")
    form.get_by_label("Datei").set_input_files(
        {"name": "og1.svg", "mimeType": "image/svg+xml", "buffer": plan_svg()}
    )

    def layout_requested() -> bool:
        page.wait_for_timeout(20)  # lets Playwright hand the request to the route above
        return bool(held)

    wait_until(layout_requested, 10, what="the layout request")
    form.get_by_label("Breite des Plans (m)").fill("30,0")
    form.get_by_label("Höhe des Plans (m)").fill("10,0")
    with page.expect_response(f"**{API}/floors/{floor}/layout"):
        held[0].continue_()  # the layout arrives after the typing
    page.unroute(f"**{API}/floors/{floor}/layout")
    # The page has taken the layout in once it shows the floor's (empty) plan state.
    expect(page.get_by_text("Für diese Etage ist noch kein Grundriss hochgeladen.")).to_be_visible()
    expect(form.get_by_label("Breite des Plans (m)")).to_have_value("30,0")
    form.get_by_role("button", name="Hochladen").click()
    expect(page.get_by_test_id("plan-image")).to_be_visible()
    layout = admin_api.get(f"{API}/floors/{floor}/layout").json()
    assert (layout["has_plan"], layout["width_m"], layout["height_m"]) == (True, WIDTH_M, HEIGHT_M)


def test_neighbours_are_shown_and_an_admin_links_and_excludes_rooms(
    admin_page: Page, admin_api: httpx.Client, demo_hub: RunningHub
) -> None:
    page = admin_page
    floor = floor_id(admin_api, "1. OG")
    r103, r104, r105 = (room_id(admin_api, n) for n in ("1.03", "1.04", "1.05"))
    page.goto(f"{demo_hub.url}/admin/floors/{floor}")
    page.get_by_test_id("room-row").filter(has_text="1.03").get_by_test_id("choose-room").click()
    neighbours = page.get_by_test_id("neighbours")
    expect(neighbours.get_by_test_id("neighbour")).to_have_count(2)  # the demo links 1.02 and 1.04
    expect(neighbours.locator('[data-number="1.04"]')).to_contain_text("verknüpft")

    # Remove the link to 1.04: with radius 0 nothing else makes it a neighbour.
    neighbours.locator('[data-number="1.04"]').get_by_role(
        "button", name="Verknüpfung entfernen"
    ).click()
    expect(neighbours.locator('[data-number="1.04"]')).to_have_count(0)
    ids = [
        n["room_id"] for n in admin_api.get(f"{API}/rooms/{r103}/neighbours").json()["neighbours"]
    ]
    assert r104 not in ids

    # Link 1.05 (a connecting door), then exclude it instead.
    form = page.get_by_test_id("neighbour-form")
    form.get_by_label("Anderer Raum").select_option(label="1.05 Teamleitung")
    form.get_by_label("Art").select_option("link")
    form.get_by_role("button", name="Hinzufügen").click()
    expect(neighbours.locator('[data-number="1.05"]')).to_be_visible()
    form.get_by_label("Art").select_option("exclude")
    form.get_by_role("button", name="Hinzufügen").click()
    expect(page.get_by_test_id("excluded").locator('[data-number="1.05"]')).to_be_visible()
    answer = admin_api.get(f"{API}/rooms/{r103}/neighbours").json()
    assert [x["room_id"] for x in answer["excluded"]] == [r105]
    assert r105 not in [n["room_id"] for n in answer["neighbours"]]

    page.get_by_test_id("excluded").get_by_role("button", name="Ausschluss aufheben").click()
    expect(page.get_by_test_id("excluded")).to_have_count(0)
    assert admin_api.get(f"{API}/rooms/{r103}/neighbours").json()["excluded"] == []

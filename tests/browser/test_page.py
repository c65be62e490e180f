"""The page in a real Chromium against a real server: what a learner sees and does."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ARTIFACTS, strict_json

pytestmark = pytest.mark.browser

TIMEOUT = 30_000

PATHS_JS = """() => {
  const gd = document.getElementById('plot-surface');
  return (gd.data || []).filter(t => t.type === 'scatter3d' && t.mode === 'lines+markers')
    .map(t => ({name: t.name, n: t.x.length, last: t.customdata[t.customdata.length - 1],
                x: t.x[t.x.length - 1], y: t.y[t.y.length - 1]}));
}"""


def open_page(page, query: str = "") -> None:
    page.goto("/" + query)
    page.wait_for_selector("body[data-ready=yes]", timeout=TIMEOUT)


def paths(page) -> list[dict]:
    return page.evaluate(PATHS_JS)


def wait_done(page) -> None:
    page.wait_for_selector("#status[data-state=done]", timeout=TIMEOUT)


def wait_path(page, index: int, n: int) -> None:
    page.wait_for_function(
        f"() => {{ const p = ({PATHS_JS})(); return p.length > {index} && p[{index}].n === {n}; }}",
        timeout=TIMEOUT)


def rest_run(base: str, config: dict) -> dict:
    req = urllib.request.Request(base + "/api/runs", data=json.dumps(config).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return strict_json(r.read().decode())


def test_page_loads_with_webgl_and_no_console_errors(page, console, shot):
    open_page(page)
    page.wait_for_selector("body[data-surface=ready]", timeout=TIMEOUT)
    page.wait_for_function(
        "() => document.querySelector('#plot-surface .gl-container canvas') !== null",
        timeout=TIMEOUT)
    has_gl = page.evaluate("""() => [...document.querySelectorAll('#plot-surface canvas')]
        .some(c => { try { return !!(c.getContext('webgl') || c.getContext('webgl2')); }
                     catch (e) { return false; } })""")
    assert has_gl
    assert page.query_selector(".no-webgl") is None
    surface = page.evaluate("document.getElementById('plot-surface').data[0]")
    assert surface["type"] == "surface" and len(surface["z"]) == 100
    # menus come from the catalog
    options = page.eval_on_selector_all("#dataset option", "os => os.map(o => o.value)")
    assert {"line", "cats-dogs", "xor", "tanh", "rosenbrock"} <= set(options)
    shot("01-loaded")
    assert console.errors == []


def test_fifty_epoch_run_matches_rest(page, console, live_server, shot):
    open_page(page, "?dataset=line&model=linear&epochs=50&speed=max")
    page.click("#btn-start")
    wait_done(page)
    wait_path(page, 0, 51)
    (path,) = paths(page)
    epoch, loss = path["last"]
    assert epoch == 50
    rest = rest_run(live_server, {"dataset": "line", "model": "linear", "epochs": 50})
    assert len(rest["records"]) == 51
    final = rest["records"][-1]
    assert loss == final["loss"]
    assert [path["x"], path["y"]] == final["params"]
    assert "ran all the epochs" in page.inner_text("#status")
    shot("02-line-50-epochs")
    assert console.errors == []


def test_pause_step_resume_stop(page, console, shot):
    open_page(page, "?dataset=line&model=linear&epochs=400&speed=10")
    page.click("#btn-start")
    page.wait_for_selector("#status[data-state=running]", timeout=TIMEOUT)
    page.wait_for_function("() => Number(document.getElementById('status').dataset.epoch) >= 3",
                           timeout=TIMEOUT)
    page.click("#btn-pause")
    page.wait_for_selector("#status[data-state=paused]", timeout=TIMEOUT)
    expect(page.locator("#btn-pause")).to_have_text("Resume")
    page.wait_for_timeout(300)  # let anything in flight land
    n = paths(page)[0]["n"]
    page.wait_for_timeout(700)  # at 10 epochs/s, 7 more would have come
    assert paths(page)[0]["n"] == n
    page.click("#btn-step")
    wait_path(page, 0, n + 1)
    page.wait_for_timeout(500)
    assert paths(page)[0]["n"] == n + 1
    page.keyboard.press("ArrowRight")  # the keyboard's step
    wait_path(page, 0, n + 2)
    page.click("#btn-pause")  # resume
    page.wait_for_selector("#status[data-state=running]", timeout=TIMEOUT)
    page.wait_for_function(
        f"() => Number(document.getElementById('status').dataset.epoch) >= {n + 4}",
        timeout=TIMEOUT)
    page.click("#btn-stop")
    wait_done(page)
    assert "stopped by the user" in page.inner_text("#status")
    assert "stopped" in page.inner_text("#run-list")
    shot("03-stopped")
    assert console.errors == []


def test_divergence_is_shown_and_page_stays_usable(page, console, shot):
    open_page(page, "?dataset=line&model=linear&lr=10&speed=max")
    page.click("#btn-start")
    wait_done(page)
    message = page.locator("#message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("diverged")
    expect(message).to_contain_text("smaller learning rate")
    shot("04-diverged")
    # still usable: a sane learning rate trains
    page.fill("#lr-number", "0.1")
    page.dispatch_event("#lr-number", "change")
    page.click("#btn-start")
    wait_done(page)
    assert "ran all the epochs" in page.inner_text("#status")
    assert console.errors == []


def test_compare_three_learning_rates(page, console, shot):
    open_page(page, "?dataset=cats-dogs&model=logistic&epochs=60&speed=max")
    for lr in ("0.3", "1", "3"):
        page.fill("#lr-number", lr)
        page.dispatch_event("#lr-number", "change")
        page.click("#btn-add")
        wait_done(page)
    page.wait_for_function(f"() => ({PATHS_JS})().length === 3 && "
                           f"({PATHS_JS})().every(p => p.n === 61)", timeout=TIMEOUT)
    ps = paths(page)
    assert len({(p["x"], p["y"]) for p in ps}) == 3  # three different endings
    items = page.locator("#run-list li")
    expect(items).to_have_count(3)
    for i, lr in enumerate(("0.3", "1", "3")):
        expect(items.nth(i)).to_contain_text(f"lr {lr}")
    legend = page.evaluate("""() => document.getElementById('plot-loss').data
        .filter(t => t.name.endsWith('training')).map(t => t.name)""")
    assert len(legend) == 3
    # hide and remove
    page.click("#run-visible-2")
    hidden = page.evaluate("""() => document.getElementById('plot-surface').data
        .filter(t => t.name && t.name.startsWith('Run 2')).map(t => t.visible)""")
    assert hidden == [False]
    page.click("button[aria-label='Remove Run 1']")
    expect(items).to_have_count(2)
    page.wait_for_function(f"() => ({PATHS_JS})().length === 2", timeout=TIMEOUT)
    shot("05-compare")
    assert console.errors == []


def test_shared_link_reproduces_settings_and_paths(page, context, console):
    open_page(page, "?dataset=tanh&model=tanh-net&epochs=40&speed=max")
    page.select_option("#optimizer", "adam")
    page.fill("#lr-number", "0.05")
    page.dispatch_event("#lr-number", "change")
    page.fill("#batch-number", "16")
    page.dispatch_event("#batch-number", "change")
    page.click("#btn-start")
    wait_done(page)
    page.select_option("#optimizer", "momentum")
    page.click("#btn-add")
    wait_done(page)
    page.wait_for_function(f"() => ({PATHS_JS})().length === 2", timeout=TIMEOUT)
    before = paths(page)
    url = page.evaluate("location.href")
    other = context.new_page()
    other_console = []
    other.on("console", lambda m: other_console.append(m.text) if m.type == "error" else None)
    other.goto(url)
    other.wait_for_selector("body[data-ready=yes]", timeout=TIMEOUT)
    other.wait_for_function(f"() => ({PATHS_JS})().length === 2 && "
                            f"({PATHS_JS})().every(p => p.n === 41)", timeout=TIMEOUT)
    assert other.input_value("#dataset") == "tanh"
    assert other.input_value("#model") == "tanh-net"
    assert other.input_value("#optimizer") == "momentum"
    assert other.input_value("#batch-number") == "16"
    assert float(other.input_value("#lr-number")) == 0.05
    after = paths(other)
    assert [(p["x"], p["y"], p["last"]) for p in after] == [
        (p["x"], p["y"], p["last"]) for p in before]
    assert console.errors == [] and other_console == []


def test_csv_upload_bad_then_good(page, console, tmp_path, shot):
    open_page(page)
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n2,oops\n3,4\n")
    page.set_input_files("#csv-file", str(bad))
    expect(page.locator("#csv-error")).to_contain_text("line 3, column 'y'")
    shot("06-csv-bad")
    before = page.evaluate("document.getElementById('plot-surface').data[0].z[0][0]")
    good = tmp_path / "good.csv"
    good.write_text("hours,score\n" + "".join(f"{h},{3 * h + 1 + (h % 3) * 0.1}\n"
                                               for h in range(20)))
    page.set_input_files("#csv-file", str(good))
    expect(page.locator("#csv-error")).to_have_text("")
    page.wait_for_function("() => document.getElementById('dataset').value.startsWith('csv-')",
                           timeout=TIMEOUT)
    page.wait_for_function(
        f"() => document.getElementById('plot-surface').data[0].z[0][0] !== {before}",
        timeout=TIMEOUT)
    page.click("#btn-start")
    wait_done(page)
    assert page.evaluate("document.getElementById('plot-data').layout.xaxis.title.text") == "hours"
    shot("07-csv-good")
    # Chromium itself logs the refused upload's 422 response; nothing else may appear.
    assert [e for e in console.errors if "422" not in e] == []
    assert len(console.errors) <= 1


def test_narrow_screen_and_contour_click(browser, live_server):
    ctx = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        open_page(page, "?dataset=rosenbrock&model=point&optimizer=adam&lr=0.05&speed=max")
        page.wait_for_selector("body[data-surface=ready]", timeout=TIMEOUT)
        page.locator("#plot-contour").scroll_into_view_if_needed()
        box = page.locator("#plot-contour .nsewdrag").first.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
        page.wait_for_function("() => document.getElementById('start-0').value !== ''",
                               timeout=TIMEOUT)
        start = [float(page.input_value("#start-0")), float(page.input_value("#start-1"))]
        page.click("#btn-start")
        wait_done(page)
        first = page.evaluate("""() => { const t = document.getElementById('plot-contour').data
            .find(t => t.mode === 'lines+markers'); return [t.x[0], t.y[0]]; }""")
        assert first == start
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1  # nothing forces sideways scrolling
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "08-narrow-rosenbrock.png"), full_page=True)
        assert errors == []
    finally:
        ctx.close()


def test_learning_rate_change_mid_run_is_applied_and_marked(page, console, shot):
    open_page(page, "?dataset=line&model=linear&epochs=300&speed=10&lr=0.05")
    page.click("#btn-start")
    page.wait_for_function("() => Number(document.getElementById('status').dataset.epoch) >= 3",
                           timeout=TIMEOUT)
    page.fill("#lr-number", "0.2")
    page.dispatch_event("#lr-number", "change")
    page.wait_for_function("""() => document.getElementById('plot-contour').data
        .some(t => t.name === 'lr change' && t.x.length === 1)""", timeout=TIMEOUT)
    label = page.evaluate("""() => document.getElementById('plot-contour').data
        .find(t => t.name === 'lr change').text[0]""")
    assert label == "lr → 0.2"
    page.click("#btn-stop")
    wait_done(page)
    with page.expect_download() as info:
        page.click("button[aria-label='Download Run 1 as JSON']")
    result = strict_json(Path(info.value.path()).read_text())
    rates = [r["learning_rate"] for r in result["records"]]
    change = rates.index(0.2)
    assert change > 0 and set(rates[:change]) == {0.05} and set(rates[change:]) == {0.2}
    assert result["stop_reason"] == "stopped"
    shot("09-lr-change")
    # the link replays the run, its change of rate included, to the same point
    (before,) = paths(page)
    other = page.context.new_page()
    other.goto(page.evaluate("location.href"))
    other.wait_for_selector("body[data-ready=yes]", timeout=TIMEOUT)
    other.wait_for_function(f"() => ({PATHS_JS})().length === 1", timeout=TIMEOUT)
    (after,) = paths(other)
    assert (after["n"], after["x"], after["y"], after["last"]) == (
        before["n"], before["x"], before["y"], before["last"])
    marks = other.evaluate("""() => document.getElementById('plot-contour').data
        .find(t => t.name === 'lr change').text""")
    assert marks == ["lr → 0.2"]
    assert console.errors == []


def test_downloads_csv_json_and_png(page, console):
    open_page(page, "?dataset=cats-dogs&model=logistic&epochs=20&speed=max")
    page.click("#btn-start")
    wait_done(page)
    with page.expect_download() as info:
        page.click("button[aria-label='Download Run 1 as CSV']")
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0].split(",")[:4] == ["epoch", "w", "b", "loss"]
    assert len(lines) == 1 + 21
    with page.expect_download() as info:
        page.click("button[aria-label='Download Run 1 as JSON']")
    result = strict_json(Path(info.value.path()).read_text())
    assert result["param_names"] == ["w", "b"] and len(result["records"]) == 21
    assert result["config"]["dataset"] == "cats-dogs"
    names = []
    page.on("download", lambda d: names.append(d.suggested_filename))
    page.click("#btn-png")
    for _ in range(100):
        if len(names) >= 4:
            break
        page.wait_for_timeout(100)
    assert len(names) == 4 and all(n.endswith(".png") for n in names)
    assert console.errors == []


def test_camera_is_kept_while_the_path_updates(page, console):
    open_page(page, "?dataset=line&model=linear&epochs=60&speed=30")
    page.wait_for_selector("body[data-surface=ready]", timeout=TIMEOUT)
    page.evaluate("""() => window.Plotly.relayout('plot-surface',
        {'scene.camera.eye': {x: 2.1, y: 0.3, z: 0.4}})""")
    page.click("#btn-start")
    wait_done(page)
    wait_path(page, 0, 61)
    eye = page.evaluate("document.getElementById('plot-surface')._fullLayout.scene.camera.eye")
    assert (round(eye["x"], 6), round(eye["y"], 6), round(eye["z"], 6)) == (2.1, 0.3, 0.4)
    assert console.errors == []


def test_lost_connection_shows_a_message_and_reconnects(page, console, shot):
    sockets = []

    def relay(ws):
        server = ws.connect_to_server()
        sockets.append((ws, server))

    page.route_web_socket("**/ws/train", relay)
    open_page(page, "?dataset=line&model=linear&epochs=500&speed=10")
    page.click("#btn-start")
    page.wait_for_function("() => Number(document.getElementById('status').dataset.epoch) >= 2",
                           timeout=TIMEOUT)
    sockets[-1][0].close(code=1011, reason="server went away")
    message = page.locator("#message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("Lost the connection")
    expect(page.locator("#btn-reconnect")).to_be_visible()
    expect(page.locator("#run-list")).to_contain_text("interrupted")
    assert page.is_enabled("#btn-start")
    shot("10-connection-lost")
    page.click("#btn-reconnect")
    expect(message).to_be_hidden()
    page.fill("#epochs", "20")
    page.dispatch_event("#epochs", "change")
    page.select_option("#speed", "max")
    page.click("#btn-start")
    wait_done(page)
    assert "ran all the epochs" in page.inner_text("#status")
    assert len(sockets) == 2  # a new connection
    assert console.errors == []


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".opblock"), ("/redoc", "h1")])
def test_api_docs_render_offline(page, console, live_server, path, ready):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((live_server, "data:", "blob:")) else None)
    page.goto(path)
    page.wait_for_selector(ready, timeout=TIMEOUT)
    expect(page.locator("body")).to_contain_text("/api/runs")
    assert outside == []
    assert console.errors == []


def test_surface_grows_to_hold_the_path_and_slices_through_the_final_bias(page, console):
    open_page(page, "?dataset=and&model=neuron&lr=0.5&epochs=400&speed=max")
    page.wait_for_selector("body[data-surface=ready]", timeout=TIMEOUT)
    first = page.evaluate("document.getElementById('plot-contour').layout.xaxis.range")
    page.click("#btn-start")
    wait_done(page)
    page.wait_for_function(
        f"""() => {{ const r = document.getElementById('plot-contour').layout.xaxis.range;
                    return r[1] !== {first[1]}; }}""", timeout=TIMEOUT)
    (path,) = paths(page)
    (x0, x1), (y0, y1) = page.evaluate("""() => { const l =
        document.getElementById('plot-contour').layout; return [l.xaxis.range, l.yaxis.range]; }""")
    assert x0 <= path["x"] <= x1 and y0 <= path["y"] <= y1
    # the slice runs through the final point: the surface's value there is the run's loss
    final_loss = path["last"][1]
    surface = page.evaluate("document.getElementById('plot-surface').data[0]")
    xs, ys, z = surface["x"], surface["y"], surface["z"]
    j = min(range(len(xs)), key=lambda k: abs(xs[k] - path["x"]))
    i = min(range(len(ys)), key=lambda k: abs(ys[k] - path["y"]))
    assert abs(z[i][j] - final_loss) < 0.05 * max(final_loss, 0.05) + 0.02
    assert console.errors == []


def test_a_bad_setting_gets_the_servers_message_naming_the_field(page, console):
    open_page(page, "?dataset=line&model=linear&epochs=30&speed=max")
    page.fill("#lr-number", "-1")
    page.dispatch_event("#lr-number", "change")
    page.click("#btn-start")
    message = page.locator("#message")
    expect(message).to_contain_text("learning_rate: must be greater than 0")
    expect(page.locator("#run-list li")).to_have_count(0)
    page.fill("#batch-number", "500")
    page.dispatch_event("#batch-number", "change")
    page.fill("#lr-number", "0.1")
    page.dispatch_event("#lr-number", "change")
    page.click("#btn-start")
    expect(message).to_contain_text("batch_size: must be at most 80")
    page.fill("#batch-number", "")
    page.dispatch_event("#batch-number", "change")
    page.click("#btn-start")
    wait_done(page)
    assert "ran all the epochs" in page.inner_text("#status")
    assert console.errors == []

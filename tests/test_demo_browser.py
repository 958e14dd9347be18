"""The demo page in a real browser: headless Chromium (Debian's) driven by Selenium.

The page is loaded from the demo's server (in this process, on a free port of 127.0.0.1),
strokes are drawn with the mouse, and the output shown is read back and compared with
``load()`` applied to the canvas's own pixels. Skipped when Chromium or Selenium is
missing, unless CI is set (then that is a failure: .ci/run installs them).

Run as a script, it takes the README's screenshot of a facades model::

    python tests/test_demo_browser.py --model runs/facades --out docs/images/demo.png
"""

import base64
import io
import os
import shutil
import sys
import threading
import time

import numpy as np
import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # checked by the browser fixture
    webdriver = None

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"
WAIT = 120  # seconds a translation may take on a slow CI machine


def find_browser():
    """(browser, driver) paths, or a reason why not."""
    if webdriver is None:
        return None, "selenium is not installed (pip install 'tfpix2pix[test]')"
    browser = next((shutil.which(n) for n in CHROMIUM if shutil.which(n)), None)
    driver = shutil.which(DRIVER) or ("/usr/bin/chromedriver" if os.path.exists(
        "/usr/bin/chromedriver") else None)
    if not browser or not driver:
        return None, ("chromium and chromedriver not found (apt-get install chromium "
                      "chromium-driver)")
    return (browser, driver), None


def start_browser(width=1200, height=900):
    found, reason = find_browser()
    if found is None:
        raise RuntimeError(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(found[1]))


def serve(model, *extra):
    """The demo of ``model`` in a thread, as ``python -m tfpix2pix.demo`` runs it; returns
    (server, its page's address)."""
    from conftest import serve_demo

    server, _printed = serve_demo(["--model", model, "--port", "0", *extra])
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}/"


# --- what the page shows ---------------------------------------------------------------------

def state(driver):
    return driver.execute_script("return [document.body.dataset.state, "
                                 "Number(document.body.dataset.done)]")


def wait_for(driver, condition, what):
    WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: condition(*state(d)), message=f"the page never {what}: {state(driver)}")


def wait_translated(driver, done_before):
    wait_for(driver, lambda s, done: s == "done" and done > done_before, "showed a translation")


def wait_current(driver):
    """Until the output shown is the translation of the canvas as it is now."""
    WebDriverWait(driver, WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script("const b = document.body.dataset;"
                                   "return b.state === 'done' && b.shown === b.version"),
        message=f"the page never showed the canvas's translation: {state(driver)}")


def decode_png(data):
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA") if image.mode == "P" else image)


def canvas_pixels(driver):
    url = driver.execute_script("return document.getElementById('canvas').toDataURL('image/png')")
    return decode_png(base64.b64decode(url.split(",", 1)[1]))


def output_pixels(driver):
    data = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById('output').src).then(r => r.arrayBuffer()).then(b => {
          let s = ''; new Uint8Array(b).forEach(c => { s += String.fromCharCode(c); });
          done(btoa(s)); });""")
    return decode_png(base64.b64decode(data))


def stroke(driver, points):
    """A mouse stroke through ``points``, in canvas pixels."""
    canvas = driver.find_element(By.ID, "canvas")
    side = driver.execute_script("return arguments[0].width", canvas)
    scale = canvas.rect["width"] / side
    top_left = (-canvas.rect["width"] / 2, -canvas.rect["height"] / 2)

    def offset(x, y):
        return int(top_left[0] + (x + 0.5) * scale), int(top_left[1] + (y + 0.5) * scale)

    actions = ActionChains(driver, duration=10)
    actions.move_to_element_with_offset(canvas, *offset(*points[0])).click_and_hold()
    for x, y in points[1:]:
        actions.move_to_element_with_offset(canvas, *offset(x, y))
    actions.release().perform()


def pick(driver, name):
    driver.find_element(By.CSS_SELECTOR, f"#palette button[title='{name}']").click()


# --- the tests -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    found, reason = find_browser()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the browser test must run)")
        pytest.skip(reason)
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture
def translator(tiny_translator):
    return tiny_translator


@pytest.fixture(scope="module")
def page(browser, tiny_run):
    server, url = serve(tiny_run)
    browser.get(url)
    wait_for(browser, lambda s, done: s == "ready", "became ready")
    yield browser
    server.shutdown()


def test_strokes_on_the_canvas_are_translated_as_load_translates_them(page, translator):
    assert page.execute_script("return document.getElementById('canvas').width") == 64
    before = canvas_pixels(page)
    assert len(np.unique(before.reshape(-1, 4), axis=0)) == 1  # the background colour
    pick(page, "window")
    stroke(page, [(8, 8), (30, 10), (40, 40)])
    pick(page, "background")
    stroke(page, [(50, 5), (52, 60)])
    wait_current(page)
    drawn = canvas_pixels(page)
    colours = {tuple(c) for c in np.unique(drawn.reshape(-1, 4)[:, :3], axis=0)}
    palette = page.execute_script("return info.palette")
    named = dict(zip(palette["names"], map(tuple, palette["colors"])))
    # Exactly the background and the two colours drawn: no anti-aliased blends.
    assert colours == {tuple(palette["background"]), named["window"], named["background"]}
    shown = output_pixels(page)
    expected = translator(drawn)
    assert shown.shape == expected.shape == (64, 64, 3) and expected.std() > 5
    assert np.abs(shown.astype(int) - expected).max() <= 1  # PNG both ways: lossless
    assert page.find_element(By.ID, "download").get_attribute("href").startswith("blob:")
    assert " ms in the model" in page.find_element(By.ID, "timing").text


def test_a_newer_request_cancels_the_running_one(page):
    _, done = state(page)
    page.execute_script("translateCanvas(); translateCanvas(); translateCanvas();")
    wait_translated(page, done)
    time.sleep(1)  # room for a late answer to an aborted request, which must not be shown
    assert state(page) == ["done", done + 1]


def test_fill_undo_and_clear(page):
    page.find_element(By.CSS_SELECTOR, "input[name=tool][value=fill]").click()
    page.find_element(By.ID, "clear").click()
    pick(page, "window")
    stroke(page, [(3, 3)])
    filled = canvas_pixels(page)
    window = tuple(page.execute_script("return info.palette.colors[info.palette.names"
                                       ".indexOf('window')]"))
    assert (filled[..., :3] == window).all()
    page.find_element(By.ID, "undo").click()
    assert (canvas_pixels(page)[..., :3] == page.execute_script(
        "return info.palette.background")).all()
    page.find_element(By.CSS_SELECTOR, "input[name=tool][value=brush]").click()


def test_an_upload_is_translated_at_its_own_size(page, translator, facades, tmp_path):
    from PIL import Image

    from tfpix2pix.inference import images as I

    path = tmp_path / "upload.jpg"
    Image.open(facades / "val" / "3.jpg").crop((256, 10, 356, 70)).save(path, quality=90)
    wait_current(page)  # settled: no translation of the canvas is pending
    page.find_element(By.ID, "upload").send_keys(str(path))
    wait_for(page, lambda s, done: s == "done" and page.execute_script(
        "return document.body.dataset.shown") == "upload", "showed the upload's translation")
    assert page.execute_script("const o = document.getElementById('output');"
                               "return [o.naturalWidth, o.naturalHeight]") == [100, 60]
    assert page.find_element(By.ID, "timing").text.startswith("100x60")
    expected = translator(I.read_image(path))  # the file's bytes, decoded as predict does
    assert np.abs(output_pixels(page).astype(int) - expected).max() <= 1


def test_a_bad_file_gets_a_clear_message_on_the_page(page, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels")
    page.find_element(By.ID, "upload").send_keys(str(path))
    wait_for(page, lambda s, done: s == "error", "showed the error")
    message = page.find_element(By.ID, "error").text
    assert message.startswith("notes.png: not a PNG or JPEG image"), message


def test_an_example_loads_into_the_canvas_and_is_translated(page, translator):
    _, done = state(page)
    page.find_elements(By.CSS_SELECTOR, "#examples img")[1].click()
    wait_translated(page, done)
    wait_current(page)
    example = canvas_pixels(page)
    assert example.shape == (64, 64, 4) and len(np.unique(example.reshape(-1, 4), axis=0)) > 3
    assert np.abs(output_pixels(page).astype(int) - translator(example)).max() <= 1
    assert page.find_element(By.ID, "error").get_attribute("hidden")  # the old error is gone


# --- the static page of export --web ---------------------------------------------------------

@pytest.fixture(scope="module")
def static_page(browser, tiny_run, tmp_path_factory):
    """export --web of the run, served by a plain static file server on 127.0.0.1.

    The runtime comes from the npm registry (once; then from the cache folder). Without the
    network the test is skipped, unless CI is set.
    """
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from tfpix2pix.errors import UserError
    from tfpix2pix.export.__main__ import main as export_main

    from tfpix2pix.demo import web
    try:
        web.runtime(io.StringIO())
    except UserError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set, so the static page must be tested)")
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("exported")
    out = io.StringIO()
    assert export_main([str(tiny_run), "--output", str(root), "--web"], out=out) == 0, out.getvalue()
    folder = root / "test" / "web"

    class Static(SimpleHTTPRequestHandler):
        extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".mjs": "text/javascript",
                          ".js": "text/javascript"}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Static)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
    wait_for(browser, lambda s, done: s == "ready", "became ready")
    yield browser
    server.shutdown()
    server.server_close()


def test_the_static_page_translates_in_the_browser_as_load_does(static_page, translator):
    assert "onnxruntime-web" in static_page.find_element(By.ID, "model-about").text
    pick(static_page, "window")
    stroke(static_page, [(10, 50), (20, 20), (50, 12)])
    wait_current(static_page)
    drawn = canvas_pixels(static_page)
    shown, expected = output_pixels(static_page), translator(drawn)
    assert shown.shape[:2] == expected.shape[:2] == (64, 64) and expected.std() > 5
    # ONNX in WebAssembly against TensorFlow: float32 sums in another order, so a pixel may
    # round the other way; the export's ONNX check allows 1e-4 (docs/serving.md).
    diff = np.abs(shown[..., :3].astype(int) - expected)
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())
    _, done = state(static_page)
    static_page.find_elements(By.CSS_SELECTOR, "#examples img")[0].click()
    wait_translated(static_page, done)
    wait_current(static_page)
    diff = np.abs(output_pixels(static_page)[..., :3].astype(int) -
                  translator(canvas_pixels(static_page)))
    assert diff.max() <= 2 and diff.mean() < 0.05, (diff.max(), diff.mean())


# --- the README's screenshot -----------------------------------------------------------------

def draw_facade(driver):
    """A facade label map drawn with the mouse: wall, cornice, windows with sills, a door."""
    side = driver.execute_script("return document.getElementById('canvas').width")
    u = side / 256  # the drawing is planned on 256 px
    brush = driver.find_element(By.ID, "brush-size")

    def size(px):
        driver.execute_script("arguments[0].value = arguments[1];"
                              "arguments[0].dispatchEvent(new Event('input'))", brush,
                              max(1, round(px * u)))

    def bar(x0, y0, x1, y1):  # a filled rectangle, in horizontal strokes of the brush
        width = max(1, round(8 * u))
        size(8)
        lo = (width - 1) // 2  # the brush covers y - lo .. y + width - 1 - lo
        hi = width - 1 - lo
        left, right = round(x0 * u) + lo, max(round(x0 * u) + lo, round(x1 * u) - hi)
        top, bottom = round(y0 * u) + lo, max(round(y0 * u) + lo, round(y1 * u) - hi)
        rows = list(range(top, bottom + 1, max(1, width // 2)))  # overlapping: straight edges
        for y in rows + ([bottom] if rows[-1] != bottom else []):
            stroke(driver, [(left, y), (right, y)])

    names = driver.execute_script("return info.palette.names")
    pick(driver, "background")
    bar(0, 0, 255, 14)
    pick(driver, "facade")
    bar(0, 15, 255, 255)
    if "cornice" in names:
        pick(driver, "cornice")
        bar(0, 34, 255, 42)
    for row, top in enumerate((56, 110, 164)):
        for left in (22, 84, 146, 208):
            pick(driver, "window")
            bar(left, top, left + 30, top + 34)
            if "sill" in names or "molding" in names:
                pick(driver, "sill" if "sill" in names else "molding")
                bar(left - 3, top + 36, left + 33, top + 40)
    pick(driver, "door" if "door" in names else "window")
    bar(112, 210, 144, 255)
    if "shop" in names:
        pick(driver, "shop")
        bar(10, 214, 90, 255)
        bar(166, 214, 246, 255)


def screenshot(model, out):
    from PIL import Image

    driver = start_browser(1180, 1000)
    server, url = serve(model)
    try:
        driver.get(url)
        wait_for(driver, lambda s, done: s == "ready", "became ready")
        draw_facade(driver)
        driver.find_element(By.ID, "translate").click()
        wait_current(driver)
        time.sleep(0.5)
        bottom = driver.execute_script("return document.querySelector('main')"
                                       ".getBoundingClientRect().bottom")
        image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        image = image.crop((0, 0, image.width, min(image.height, int(bottom) + 24)))
    finally:
        driver.quit()
        server.shutdown()
    image.quantize(192, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {os.path.getsize(out) / 1e3:.0f} KB")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the README's screenshot of the demo")
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", default="docs/images/demo.png")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    screenshot(args.model, args.out)

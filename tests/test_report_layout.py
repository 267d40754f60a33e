"""The HTML report as a reader sees it (headless Chromium at common window sizes): on the
landing page the results table clear of the workflow graph, each of its cells and paragraphs
visible and no part out of scroll reach; one figure page per report category visible."""

import struct

import pytest

from conftest import snakemake_in

pytestmark = [pytest.mark.slow, pytest.mark.workflow, pytest.mark.browser]

# Common laptop and desktop windows (width: height); the layout is checked at each width.
WINDOWS = {1280: 800, 1440: 900, 1920: 1080}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The categories whose results include a figure (the others hold only tables).
FIGURE_CATEGORIES = ("Data", "Hyper-parameter search", "Test evaluation", "Composition")

# For each element: scrolled to (nested scroll containers too), is it the topmost element at
# its centre? Returns the ones that are not, with what is there instead.
COVERED_JS = """
const describe = (el) => el ? `${el.tagName.toLowerCase()}#${el.id}.${el.className}` : null;
const covered = [];
for (const el of arguments[0]) {
    el.scrollIntoView({block: "center", inline: "center"});
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const hit = document.elementFromPoint(x, y);
    if (!(hit && el.contains(hit))) {
        covered.push({text: el.textContent.trim().slice(0, 40), x: x, y: y, hit: describe(hit)});
    }
}
return covered;
"""

# The box of the drawn rule graph: #rulegraph and everything drawn in it (the view overflows
# its max-h-screen container), in page coordinates of the current scroll position.
GRAPH_BOX_JS = """
const graph = document.querySelector("div#rulegraph");
const boxes = [graph, ...graph.querySelectorAll("*")].map((el) => el.getBoundingClientRect())
    .filter((r) => r.width > 0 && r.height > 0);
return {left: Math.min(...boxes.map((r) => r.left)), top: Math.min(...boxes.map((r) => r.top)),
        right: Math.max(...boxes.map((r) => r.right)),
        bottom: Math.max(...boxes.map((r) => r.bottom))};
"""


# How far the given elements reach above and left of where their scroll container starts
# (scrolled to its start): what lies there cannot be scrolled to.
CUT_OFF_JS = """
const parts = arguments[0];
let scroller = parts[0].parentElement;
while (!["auto", "scroll"].includes(getComputedStyle(scroller).overflowY)) {
    scroller = scroller.parentElement;
}
scroller.scrollTo(0, 0);
const start = scroller.getBoundingClientRect();
const boxes = parts.map((el) => el.getBoundingClientRect());
return {top: start.top - Math.min(...boxes.map((r) => r.top)),
        left: start.left - Math.min(...boxes.map((r) => r.left))};
"""


def _box(browser, element) -> dict:
    return browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};",
        element,
    )


def _intersect(a: dict, b: dict) -> bool:
    overlap_x = a["left"] < b["right"] and b["left"] < a["right"]
    return overlap_x and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _save_screenshot(browser, path) -> None:
    """The viewport as a PNG artifact; prints where it is and its size."""
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])
    print(f"screenshot {path}: {width}x{height} px, {len(data)} bytes")


@pytest.fixture(scope="module")
def report(shared_quick_run, tmp_path_factory):
    """The quick run's HTML report, built as the README shows (plain --report)."""
    path = tmp_path_factory.mktemp("layout") / "report.html"
    out = snakemake_in(shared_quick_run.ws, "--report", str(path))
    assert out.returncode == 0, out.stderr[-3000:]
    return path


@pytest.fixture
def window(browser):
    """Sets the shared browser's window size; restores the size it had afterwards."""
    before = browser.get_window_size()
    yield lambda width: browser.set_window_size(width, WINDOWS[width])
    browser.set_window_size(before["width"], before["height"])


def _load(browser, report):
    """Opens the report on its landing page; waits for the app (a report of several MB) to
    draw it: the graph's container is there."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(report.as_uri())
    locator = (By.CSS_SELECTOR, "div#rulegraph")
    WebDriverWait(browser, 60).until(expected_conditions.presence_of_element_located(locator))


def _open_landing(browser, report):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _load(browser, report)
    table = browser.find_element(By.XPATH, "//table[.//th[text()='Classifies']]")

    def drawn(b):  # vega-embed draws the graph asynchronously
        box = b.execute_script(GRAPH_BOX_JS)
        return box["bottom"] - box["top"] > 100

    WebDriverWait(browser, 20).until(drawn)
    return table


@pytest.mark.parametrize("width", sorted(WINDOWS))
def test_landing_page_is_readable(report, browser, window, width, tmp_path):
    """The results table clear of the workflow graph, each of its cells and each paragraph of
    the page the topmost element at its centre, and no part of the page out of scroll reach."""
    from selenium.webdriver.common.by import By

    window(width)
    assert browser.execute_script("return window.innerWidth") == width
    table = _open_landing(browser, report)
    page = browser.find_elements(By.CSS_SELECTOR, "div#rulegraph, #app .prose")
    cut = browser.execute_script(CUT_OFF_JS, page)
    table_box, graph_box = _box(browser, table), browser.execute_script(GRAPH_BOX_JS)
    cells = table.find_elements(By.CSS_SELECTOR, "th, td")
    assert len(cells) >= 2 * 3  # a header and the rows of the models
    text = browser.find_elements(By.CSS_SELECTOR, "#app .prose :is(p, h1, h2)")
    assert len(text) >= 3  # the description's paragraphs and the results' heading
    covered_cells = browser.execute_script(COVERED_JS, cells)
    covered_text = browser.execute_script(COVERED_JS, text)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
    _save_screenshot(browser, tmp_path / f"landing_{width}.png")
    problems = []
    if _intersect(table_box, graph_box):
        problems.append(f"results table {table_box} overlaps the workflow graph {graph_box}")
    if covered_cells:
        problems.append(
            f"{len(covered_cells)} of {len(cells)} table cells covered: {covered_cells}"
        )
    if covered_text:
        problems.append(f"text not visible: {covered_text}")
    if cut["top"] > 1 or cut["left"] > 1:
        problems.append(f"page out of scroll reach (px above, left of its start): {cut}")
    assert not problems, f"landing page at {width} px:\n" + "\n".join(problems)


def _figure_pages(browser) -> dict[str, tuple[str, str]]:
    """Category -> (subcategory, path) of its first figure, from the report's own data."""
    return browser.execute_script(
        """
        const pages = {};
        for (const [category, subcategories] of Object.entries(categories)) {
            for (const [subcategory, paths] of Object.entries(subcategories)) {
                const path = paths.find((p) => getResultMimeType(p).startsWith("image/"));
                if (path && !(category in pages)) pages[category] = [subcategory, path];
            }
        }
        return pages;
        """
    )


@pytest.mark.parametrize("width", sorted(WINDOWS))
def test_a_figure_of_every_category_is_visible(report, browser, window, width, tmp_path):
    """Opened as a reader opens it (category, subcategory, eye button), the first figure of
    each category that has figures is the topmost element at its centre and within reach."""
    from selenium.webdriver.common.by import By

    def click(element):  # in the page's own handlers: menus animate under a moving pointer
        browser.execute_script("arguments[0].click();", element)

    window(width)
    _open_landing(browser, report)
    pages = _figure_pages(browser)
    shown = {category.split(". ", 1)[-1] for category in pages}
    assert set(FIGURE_CATEGORIES) <= shown, pages
    for category, (subcategory, path) in sorted(pages.items()):
        _load(browser, report)  # from the landing page, as a reader starts
        click(browser.find_element(By.XPATH, f"//nav//span[text()='{category}']"))
        if not browser.execute_script("return isSingleSubcategory(arguments[0])", category):
            click(browser.find_element(By.XPATH, f"//nav//span[text()='{subcategory}']"))
        row = browser.find_element(By.XPATH, f"//tr[td[text()='{path}']]")
        click(row.find_element(By.XPATH, ".//a[@iconname='eye']"))
        name = path.rsplit("/", 1)[-1]
        image = browser.find_element(By.XPATH, f"//img[contains(@src, '{name}')]")
        browser.execute_script("return arguments[0].decode()", image)
        assert browser.execute_script("return arguments[0].naturalWidth", image) > 0, path
        cut = browser.execute_script(CUT_OFF_JS, [image])
        covered = browser.execute_script(COVERED_JS, [image])
        _save_screenshot(browser, tmp_path / f"figure_{category.split('.')[0]}_{width}.png")
        assert not covered, f"{category}: figure {path} not visible at {width} px: {covered}"
        assert cut["top"] <= 1 and cut["left"] <= 1, f"{category}: {path} cut off: {cut}"

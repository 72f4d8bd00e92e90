"""Drives the dashboard in headless Chromium (Debian's chromium + chromium-driver) against a
running control plane with a server launcher and no automatic failover, in two phases (the
caller changes the cluster in between). `overview`: token prompt, four node cards, a STRONG
write from the query console and its timestamp in the per-table view, the lagging replica
highlighted there, live charts receiving points, a stress run, keyboard use of a
confirmation, phone width and dark theme. `failover`: the failover step by step (stop the
primary, SEER election, promote, restart the old primary as a replica), then a switchover
through the page that moves the primary card. No console errors in either. Screenshots go to
--artifacts.

Exit codes: 0 every check passed; 1 a check failed; 77 Chromium (or its driver) cannot start
here, which the calling test reports as a loud skip.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

SKIP = 77

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:  # a broken test venv is a failure, not a skip
    print(f"FAIL: selenium is missing from {sys.executable} ({e}); run scripts/setup.sh", file=sys.stderr)
    sys.exit(1)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def log(msg):
    print(f"[dashboard] {msg}", flush=True)


def first_existing(names, paths):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    return None


def start_browser(profile):
    chromium = first_existing(["chromium", "chromium-browser"], ["/usr/lib/chromium/chromium"])
    driver_bin = first_existing(["chromedriver"], ["/usr/lib/chromium/chromedriver"])
    if not chromium or not driver_bin:
        print(
            f"SKIP: Chromium cannot start here: chromium={chromium} chromedriver={driver_bin} "
            "(scripts/setup.sh installs Debian's chromium and chromium-driver)",
            file=sys.stderr,
        )
        sys.exit(SKIP)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}", "--window-size=1400,1000"]:
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_bin), options=opts)
    except WebDriverException as e:
        print(f"SKIP: Chromium cannot start here: {e.msg or e}", file=sys.stderr)
        sys.exit(SKIP)
    log(f"browser: {driver.capabilities.get('browserVersion')} ({chromium})")
    return driver


class Checks:
    def __init__(self, driver, base, artifacts):
        self.d = driver
        self.base = base
        self.artifacts = artifacts
        self.console = []

    def wait(self, what, cond, timeout=30):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(lambda d: cond())
        except TimeoutException:
            self.shot(f"timeout-{what.replace(' ', '-')[:40]}")
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}")

    def css(self, sel):
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def one(self, sel):
        return self.d.find_element(By.CSS_SELECTOR, sel)

    def click(self, sel):
        """Scrolls `sel` to the middle of the window (clear of the sticky header), clicks it."""
        el = self.one(sel)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
        el.click()

    def shot(self, name):
        path = os.path.join(self.artifacts, f"{name}.png")
        self.d.save_screenshot(path)
        log(f"screenshot {path}")

    def drain_console(self):
        for entry in self.d.get_log("browser"):
            self.console.append(entry)
            log(f"console {entry['level']}: {entry['message']}")

    def open_section(self, anchor):
        self.d.execute_script(f"document.getElementById('{anchor}').scrollIntoView();")
        time.sleep(0.3)

    # Cards and tables are redrawn every second: read them in one script, not element by
    # element (an element read across two calls may have been replaced in between).
    def cards(self):
        return self.d.execute_script(
            "return [...document.querySelectorAll('#nodes .card')].map(c => "
            "({node: c.dataset.node, role: c.dataset.role, healthy: c.dataset.healthy}));"
        )

    def card(self, node):
        return next((c for c in self.cards() if c["node"] == node), {})

    def primary_card(self):
        return next((c["node"] for c in self.cards() if c["role"] == "primary"), None)

    def table_ts(self, suffix):
        return self.d.execute_script(
            "for (const r of document.querySelectorAll('#ts-table tr[data-table]')) {"
            "  if (r.dataset.table.endsWith(arguments[0])) {"
            "    const cell = r.querySelector('[data-field=\"primary-ts\"]');"
            "    return cell ? cell.textContent : null; } }"
            "return null;",
            suffix,
        )


def open_page(c, token):
    """Loads the page, answers its token prompt, waits for the four node cards."""
    d = c.d
    d.get(c.base + "/")
    assert "myquorum" in d.title, d.title

    # The API needs a token: the page asks for it (never in the URL) before any admin call.
    c.wait("token dialog", lambda: c.one("#token-dialog").get_attribute("open") is not None)
    c.shot("01-token-prompt")
    field = c.one("#token-input")
    field.send_keys(token)
    field.send_keys(Keys.ENTER)
    c.wait("token dialog closed", lambda: c.one("#token-dialog").get_attribute("open") is None)
    assert token not in d.current_url
    stored = d.execute_script("return sessionStorage.getItem('myquorum.token');")
    assert stored == token, f"token kept in sessionStorage, got {stored!r}"

    # Four nodes, one primary.
    c.wait("four node cards", lambda: len(c.cards()) == 4)
    ids = sorted(card["node"] for card in c.cards())
    assert ids == ["instance-1", "instance-2", "instance-3", "instance-4"], ids
    assert c.primary_card() == "instance-1", c.primary_card()


def run_overview(c, token, lagging):
    """Everything but failover; `lagging` is a replica whose SQL thread the caller stopped."""
    d = c.d
    open_page(c, token)
    c.wait("data count loaded with the token", lambda: "users:" in c.one("#data-count").text and "total:" in c.one("#data-count").text)

    # A STRONG write from the console, its timestamp, then the per-table view shows it.
    c.open_section("console")
    sql = c.one("#query-sql")
    sql.clear()
    email = f"dash-{int(time.time() * 1000)}@example.com"
    sql.send_keys(f"INSERT INTO users (name, email) VALUES ('dashboard', '{email}')")
    Select(c.one("#query-level")).select_by_visible_text("STRONG")
    sql.send_keys(Keys.CONTROL, Keys.ENTER)  # the keyboard shortcut runs it
    c.wait("query result", lambda: c.css('#query-result [data-field="timestamp"]') or c.css('#query-result [data-field="error"]'))
    errors = c.css('#query-result [data-field="error"]')
    assert not errors, f"the STRONG write failed: {errors[0].text}"
    ts_text = c.one('#query-result [data-field="timestamp"]').text
    assert ts_text.replace(",", "").isdigit(), f"timestamp shown: {ts_text!r}"
    ts = int(ts_text.replace(",", ""))
    quorum = c.one('#query-result [data-field="quorum"]').text
    level = c.one('#query-result [data-field="level"]').text
    assert level == "STRONG", level
    assert quorum == "achieved", f"quorum outcome shown: {quorum!r}"
    log(f"STRONG write timestamp {ts}, quorum {quorum}")
    c.shot("02-console-strong-write")

    def users_ts():
        text = c.table_ts("users")
        return int(text.replace(",", "")) if text and text.replace(",", "").isdigit() else None

    c.wait(f"users at timestamp {ts} in the per-table view", lambda: users_ts() == ts, timeout=20)
    if lagging:
        # The lagging replica's cell of the all-writes row is highlighted.
        marked = (
            "const head = [...document.querySelectorAll('#ts-table thead th')].map(t => t.textContent);"
            "const col = head.indexOf(arguments[0]);"
            "const row = document.querySelector('#ts-table tr[data-table=\"*\"]');"
            "return col < 0 || !row || !row.children[col] ? '' : row.children[col].className;"
        )
        c.wait(f"{lagging}'s lag highlighted", lambda: "lag" in (d.execute_script(marked, lagging) or ""), timeout=20)
        log(f"{lagging} highlighted as lagging: {d.execute_script(marked, lagging)}")
    c.open_section("tables")
    c.shot("03-table-timestamps")

    # The same SELECT at EVENTUAL shows rows.
    sql.clear()
    sql.send_keys(f"SELECT id, name, email FROM users WHERE email = '{email}'")
    Select(c.one("#query-level")).select_by_visible_text("EVENTUAL")
    c.click("#query-run")
    c.wait("read result rows", lambda: len(c.css("#query-rows tbody tr")) >= 1, timeout=20)

    # Charts receive points from the event stream.
    c.open_section("charts")
    for chart in ["chart-lag", "chart-probe", "chart-qps"]:
        c.wait(
            f"{chart} has points",
            lambda: int(c.one(f"#{chart}").get_attribute("data-points") or 0) >= 3,
            timeout=30,
        )
        lines = c.css(f"#{chart} svg polyline")
        assert lines, f"{chart}: no line drawn"
    c.shot("04-charts")

    # The stress panel: a small STRONG run, its results and the data count after it.
    c.open_section("stress")
    Select(c.one("#stress-test")).select_by_value("concurrent-writes")
    size = c.one("#stress-size")
    size.clear()
    size.send_keys("20")
    Select(c.one("#stress-level")).select_by_visible_text("STRONG")
    c.click("#stress-run")
    c.wait("stress results", lambda: c.css('#stress-result [data-field="throughput"]'), timeout=60)
    summary = c.one("#stress-result").text
    assert "20 / 20" in summary and "ops/s" in summary and "STRONG" in summary, summary
    c.wait("data count after the run", lambda: "users: 21 rows" in c.one("#data-count").text, timeout=20)
    c.shot("05-stress")
    log("stress: " + " | ".join(summary.splitlines()[:2]))

    # Keyboard: a confirmation is refused with Escape, nothing happens.
    before = c.one("#data-count").text
    clear = c.one("#data-clear")
    clear.send_keys(Keys.ENTER)
    c.wait("confirmation open", lambda: c.one("#confirm-dialog").get_attribute("open") is not None)
    focused = d.switch_to.active_element.text
    assert focused == "Cancel", f"focus starts on Cancel, found {focused!r}"
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    c.wait("confirmation closed", lambda: c.one("#confirm-dialog").get_attribute("open") is None)
    time.sleep(0.5)
    assert c.one("#data-count").text == before, "Escape must not clear the data"

    # Full page, desktop width, then phone width (no sideways scrolling) and the dark theme.
    c.open_section("overview")
    c.shot("05b-overview-desktop")
    height = d.execute_script("return document.documentElement.scrollHeight;")
    d.set_window_size(1400, min(int(height) + 150, 6000))
    time.sleep(0.6)
    c.shot("06-full-page-desktop")
    d.set_window_size(390, 844)
    time.sleep(0.8)
    overflow = d.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth;"
    )
    c.shot("07-phone")
    assert overflow <= 1, f"phone width scrolls sideways by {overflow} px"
    d.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    time.sleep(0.5)
    bg = d.execute_script("return getComputedStyle(document.body).backgroundColor;")
    c.shot("08-phone-dark")
    assert bg != "rgb(246, 247, 249)", f"dark theme not applied: {bg}"
    d.set_window_size(1400, min(int(height) + 150, 6000))
    time.sleep(0.6)
    c.shot("08b-full-page-desktop-dark")


def run_failover(c, token):
    """The failover steps, then a switchover, all through the page."""
    d = c.d
    open_page(c, token)

    # Failover step by step, each confirmed where it changes something, each result shown.
    c.open_section("failover")

    def step(name, confirm=True, timeout=90):
        c.click(f"#step-{name}")
        if confirm:
            c.wait("confirmation open", lambda: c.one("#confirm-dialog").get_attribute("open") is not None)
            c.click("#confirm-ok")
        li = f'#steps li[data-step="{name}"]'
        c.wait(f"step {name} done", lambda: c.one(li).get_attribute("data-state") in ("ok", "error"), timeout)
        text = c.one(li).find_element(By.CSS_SELECTOR, ".step-result").text
        log(f"step {name}: {text.splitlines()[0] if text else ''}")
        assert c.one(li).get_attribute("data-state") == "ok", f"step {name} failed: {text}"
        return text

    old_primary = c.primary_card()
    step("stop")
    c.wait(f"{old_primary} card unhealthy", lambda: c.card(old_primary).get("healthy") == "false")
    elected = step("elect", confirm=False)
    assert "SEER picks" in elected, elected
    assert len(c.css('#steps li[data-step="elect"] tbody tr')) == 3, "three candidates with scores"
    leader = d.execute_script("return document.getElementById('promote-target').value;")
    assert leader != old_primary and leader in elected, (leader, elected)
    c.shot("09-failover-elected")
    step("promote")
    c.wait(f"{leader} is the primary card", lambda: c.primary_card() == leader)
    step("restart", timeout=120)
    c.wait(
        f"{old_primary} back as a healthy replica",
        lambda: c.card(old_primary) == {"node": old_primary, "role": "replica", "healthy": "true"},
        timeout=60,
    )
    c.shot("10-failover-steps-done")
    log(f"step by step: {old_primary} stopped, {leader} promoted, {old_primary} rejoined")

    # A switchover through the page, confirmed, moves the primary card (to a replica that
    # was not just rejoined: one whose position the watchers have followed all along).
    target = next(n for n in ("instance-2", "instance-3", "instance-4") if n != leader)
    pick = "const s = document.getElementById('switchover-target'); s.value = arguments[0]; return s.value;"
    c.wait(f"{target} offered for the switchover", lambda: d.execute_script(pick, target) == target)
    c.click("#switchover")
    c.wait("confirmation open", lambda: c.one("#confirm-dialog").get_attribute("open") is not None)
    c.shot("11-switchover-confirm")
    c.click("#confirm-ok")
    c.wait(f"{target} is the primary card", lambda: c.primary_card() == target, timeout=90)
    c.wait("switchover result logged", lambda: any("switchover" in li.text for li in c.css("#failover-log li")), timeout=60)
    entry = c.css("#failover-log li")[0]
    assert "ok" in (entry.get_attribute("class") or ""), f"switchover failed: {entry.text}"
    pill = c.one("#pill-primary").text
    assert target in pill, pill
    c.shot("12-after-switchover")
    log(f"primary card moved to {target}; log: {entry.text}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--phase", choices=["overview", "failover"], required=True)
    ap.add_argument("--lagging", help="a replica whose SQL thread is stopped (overview)")
    args = ap.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="myquorum-chromium-")
    driver = start_browser(profile)
    checks = Checks(driver, args.url.rstrip("/"), args.artifacts)
    status = 0
    try:
        if args.phase == "overview":
            run_overview(checks, args.token, args.lagging)
        else:
            run_failover(checks, args.token)
        checks.drain_console()
        severe = [e for e in checks.console if e["level"] == "SEVERE"]
        if severe:
            raise AssertionError(f"console errors: {[e['message'] for e in severe]}")
        log(f"every browser check of the {args.phase} phase passed")
    except Exception:  # any failure, with a screenshot of the page as it was
        traceback.print_exc()
        try:
            checks.drain_console()
            checks.shot(f"99-failure-{args.phase}")
        except WebDriverException:
            pass
        status = 1
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()

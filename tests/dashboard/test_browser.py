"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright, against a
live server over the community of `community.py`. It checks what a person would check, and
saves a screenshot of every page it looks at under test-artifacts/dashboard/."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey

import valuation
from ledger.db import make_engine, upgrade
from tests.dashboard.community import Community, build
from tests.dashboard.server import DashboardServer, serve
from tests.helpers import Signer, new_ledger

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

if not CHROMIUM.exists():
    pytest.skip(
        "no /usr/bin/chromium: install Debian's chromium (apt-get install chromium) for the "
        "browser tests",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need playwright (pip install -e '.[test]')"
)
Page = Any  # playwright's Page; Any keeps this module importable for mypy without stubs


@pytest.fixture(scope="module")
def server() -> Iterator[DashboardServer]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/dashboard.db"
        engine = make_engine(url)
        upgrade(engine)
        yield from serve(url, build(engine, SigningKey.generate()))
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Watched:
    """A page, with every request and every script error it saw."""

    def __init__(self, page: Page, server: DashboardServer) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.server = server

    def open(self, path: str) -> Page:
        self.page.goto(self.server.url + path)
        self.page.wait_for_selector("main:not([aria-busy]) h1")
        return self.page

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def watched(browser: Any, server: DashboardServer) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    w = Watched(page, server)
    yield w
    context.close()
    assert w.errors == [], w.errors
    ours = server.url + "/"
    assert all(u.startswith((ours, "data:")) for u in w.requests), [
        u for u in w.requests if not u.startswith(ours)
    ]


def api(server: DashboardServer, path: str, **params: Any) -> Any:
    response = httpx.get(server.url + path, params=params)
    response.raise_for_status()
    return response.json()


def test_the_leaderboards_first_rows_match_the_api(watched: Watched) -> None:
    page = watched.open("/")
    for by in ("reputation", "tokens"):
        first = api(watched.server, "/v1/leaderboard", by=by, limit=1)["items"][0]
        row = page.locator(f"#board-{by} tbody tr").first
        assert row.get_attribute("data-member") == first["member"]
        assert row.locator("td").nth(1).inner_text() == first["name"]
        shown = row.locator("td").nth(2).locator("span")
        assert shown.get_attribute("title") == first[by]  # the exact figure, in the tooltip
    size = api(watched.server, "/v1/state")["tree_size"]
    assert page.locator("#tree-size").inner_text() == str(size)
    watched.shot("overview")


def test_a_new_entry_appears_live_without_a_reload(watched: Watched) -> None:
    page = watched.open("/")
    page.wait_for_selector("#live.on")
    page.evaluate("window.stillTheSamePage = true")
    before = int(page.locator("#tree-size").inner_text())
    fay = Signer("demo")
    response = httpx.post(watched.server.url + "/v1/entries", json=fay.join("Fay"))
    assert response.status_code == 201, response.text
    page.locator("#feed li", has_text="Fay joined").wait_for()
    assert page.locator("#feed li").first.get_attribute("data-index") == str(
        response.json()["index"]
    )
    page.wait_for_selector(f"#tree-size:text-is('{before + 1}')")
    # A vote moves the leaderboard, still without a reload.
    ann = watched.server.community.members["Ann"]
    review = watched.server.community.contributions["review"]
    assert httpx.post(watched.server.url + "/v1/entries", json=fay.evaluate(review, 1)).is_success
    page.locator("#feed li", has_text="Fay evaluated").wait_for()
    page.locator("#board-tokens tr", has_text="Fay").wait_for()
    assert page.evaluate("window.stillTheSamePage") is True
    assert ann.public in page.locator("#board-reputation").inner_html()
    watched.shot("overview-live")


def test_an_inclusion_proof_verifies_in_the_browser(watched: Watched) -> None:
    page = watched.open("/#/log/6")
    verdict = page.locator("#proof-verdict.ok")
    verdict.wait_for()
    assert verdict.inner_text().startswith("✓ Entry 6 is in the log")
    assert page.locator("#proof-result li.ok").count() == 4
    assert page.locator("#checkpoint-verdict").inner_text().startswith("✓ Signed by the log")
    watched.shot("log-verified")


def _flip_first_hash(route: Any) -> None:
    response = route.fetch()
    proof = response.json()
    first = bytearray.fromhex(proof["hashes"][0])
    first[0] ^= 0x01
    proof["hashes"][0] = first.hex()
    route.fulfill(response=response, body=json.dumps(proof))


def test_a_tampered_proof_shows_as_failed(watched: Watched) -> None:
    watched.page.route("**/v1/log/proof/inclusion?*", _flip_first_hash)
    page = watched.open("/#/log/6")
    verdict = page.locator("#proof-verdict.bad")
    verdict.wait_for()
    assert verdict.inner_text().startswith("✗ Not verified")
    assert "root" in verdict.inner_text()
    assert page.locator("#proof-result li.bad").count() == 1
    assert page.locator("#proof-result li.ok").count() == 3
    watched.shot("log-tampered-proof")


def test_a_tampered_leaf_shows_as_failed(watched: Watched) -> None:
    def change_a_vote(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace('"value":1', '"value":0'))

    watched.page.route("**/v1/log/leaves?*", change_a_vote)
    page = watched.open("/#/log/6")  # index 6: Ann's upvote of the guide
    verdict = page.locator("#proof-verdict.bad")
    verdict.wait_for()
    assert "signature does not verify" in verdict.inner_text()
    watched.shot("log-tampered-leaf")


def test_the_proof_form_checks_another_entry(watched: Watched) -> None:
    page = watched.open("/#/log")
    page.fill("#proof-index", "0")
    page.press("#proof-index", "Enter")
    page.locator("#proof-verdict.ok", has_text="Entry 0").wait_for()
    assert page.url.endswith("#/log/0")


def test_the_member_page_charts_and_explains_every_change(watched: Watched) -> None:
    bonnie = watched.server.community.members["Bonnie"]
    history = api(watched.server, f"/v1/members/{bonnie.public}/history", limit=1000)
    page = watched.open(f"/#/member/{bonnie.public}")
    assert page.locator("h1").inner_text() == "Bonnie"
    charts = page.locator("#member-charts svg.chart")
    assert charts.count() == 2
    assert charts.first.locator("path").count() == 1
    points = charts.first.locator("circle").count()
    assert points == len(history["items"])
    postings = sum(len(item["postings"]) for item in history["items"])
    assert page.locator("#explanation tbody tr").count() == postings
    assert page.locator("#adds-up").inner_text().startswith("✓")
    last = history["items"][-1]
    top = page.locator("#explanation tbody tr.end").first
    assert last["reputation"] in top.inner_text() and last["tokens"] in top.inner_text()
    assert page.locator(
        "#explanation", has_text="a referee\u2019s reward, from Ann\u2019s evaluation"
    ).count()
    watched.shot("member")


def test_the_contribution_page_shows_evaluations_in_order_and_what_it_paid(
    watched: Watched,
) -> None:
    typo = watched.server.community.contributions["typo"]
    page = watched.open(f"/#/contribution/{typo}")
    rows = page.locator("#evaluations tbody tr")
    assert rows.count() == 3  # Cleo's 0, Ann's 1, Cleo's changed vote to 1
    assert rows.nth(0).get_attribute("class") == "superseded"
    indexes = [int(rows.nth(i).locator("td").first.inner_text().lstrip("#")) for i in range(3)]
    assert indexes == sorted(indexes)
    chart = page.locator("#quality-chart svg.chart")
    assert chart.locator(".marker").count() == 3
    contribution = api(watched.server, f"/v1/contributions/{typo}")
    last_point = chart.locator("circle").last.locator("title").text_content() or ""
    shown = float(re.search(r"quality ([0-9.]+) %", last_point).group(1))  # type: ignore[union-attr]
    assert abs(shown - float(contribution["quality"]) * 100) < 0.01
    paid = page.locator("#paid")
    assert paid.locator("tr", has_text="contributor reward").count() == 2
    assert paid.locator("tr", has_text="fee").count() >= 1
    watched.shot("contribution")


def test_pages_read_small_endpoints_not_the_whole_log_or_every_contribution(
    watched: Watched,
) -> None:
    """The overview and member pages read counts and a member's own lists, not every
    contribution; the contribution page reads its own history, not the events from index 0."""
    community = watched.server.community
    page = watched.open("/")
    stats = api(watched.server, "/v1/stats")
    assert page.locator("#member-count").inner_text() == str(stats["members"])
    assert page.locator("#contribution-count").inner_text() == str(stats["contributions"])

    ann = community.members["Ann"].public
    page = watched.open(f"/#/member/{ann}")
    evaluations = api(watched.server, f"/v1/members/{ann}/evaluations", limit=1000)["items"]
    shown = page.locator("#own-evaluations li")
    assert shown.count() == len(evaluations)
    assert evaluations[0]["title"] in shown.first.inner_text()
    assert page.locator("#own-evaluations-more").is_hidden()
    assert page.locator("#own-contributions").count() == 0  # Ann submitted nothing

    typo = community.contributions["typo"]
    page = watched.open(f"/#/contribution/{typo}")
    history = api(watched.server, f"/v1/contributions/{typo}/history")["items"]
    max_after = page.locator("#evaluations tbody tr").last.locator("td").nth(4)
    assert max_after.locator("span").get_attribute("title") == history[-1]["max_score"]

    paths = [u.removeprefix(watched.server.url) for u in watched.requests]
    assert not [p for p in paths if p.startswith("/v1/events?")], paths  # live only, from now
    assert not [p for p in paths if p.startswith("/v1/contributions?order_by=time")], paths
    listed = [p for p in paths if p.startswith("/v1/contributions?")]
    assert listed and all("limit=8" in p for p in listed), listed
    assert not [p for p in paths if p.startswith("/v1/members?")], paths
    assert not [
        p for p in paths if re.match(r"/v1/members/[0-9a-f]{64}/history", p) and ann not in p
    ], paths
    watched.shot("member-lists")


def test_it_reads_on_a_phone(browser: Any, server: DashboardServer) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    w = Watched(page, server)
    for name, path in [
        ("phone-overview", "/"),
        ("phone-member", f"/#/member/{server.community.members['Ann'].public}"),
        ("phone-log", "/#/log/3"),
    ]:
        w.open(path)
        if name == "phone-log":
            page.locator("#proof-verdict.ok").wait_for()
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, f"{name} is {overflow} px wide on a 390 px screen"
        w.shot(name)
    context.close()
    assert w.errors == []


def test_it_is_usable_with_the_keyboard(watched: Watched) -> None:
    page = watched.open("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Log"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.keyboard.press("Enter")
    page.wait_for_selector("#proof-index")
    assert page.url.endswith("#/log")
    page.focus("#proof-index")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Check inclusion"
    page.keyboard.press("Enter")
    page.locator("#proof-verdict.ok").wait_for()


def test_the_dashboard_is_served_with_a_strict_policy_and_the_api_is_untouched(
    server: DashboardServer,
) -> None:
    index = httpx.get(server.url + "/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert "default-src 'self'" in index.headers["content-security-policy"]
    assert (
        httpx.get(server.url + "/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    missing = httpx.get(server.url + "/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert httpx.get(server.url + "/docs").status_code == 200
    assert httpx.get(server.url + "/v1/log/key").text.startswith("example.org/demo+")


def test_the_member_and_log_pages_follow_the_log_live(watched: Watched) -> None:
    cleo = watched.server.community.members["Cleo"]
    page = watched.open(f"/#/member/{cleo.public}")
    page.evaluate("window.stillTheSamePage = true")
    entry = cleo.submit("Proofread the FAQ", type="comment")
    assert httpx.post(watched.server.url + "/v1/entries", json=entry).is_success
    first = page.locator("#explanation tbody tr").first
    page.locator("#explanation tbody tr", has_text="Proofread the FAQ").first.wait_for()
    assert "Proofread the FAQ" in first.inner_text()
    assert "\u22120.2" in first.inner_text()  # the comment's fee, newest first
    assert page.locator("#adds-up").inner_text().startswith("✓")

    page.goto(watched.server.url + "/#/log")
    page.wait_for_selector("#log-entries li")
    size = api(watched.server, "/v1/state")["tree_size"]
    review = watched.server.community.contributions["review"]
    assert httpx.post(watched.server.url + "/v1/entries", json=cleo.evaluate(review, 0)).is_success
    page.locator("#log-entries li", has_text="Cleo evaluated").first.wait_for()
    page.locator("#checkpoint-verdict", has_text=f"{size + 1} entries").wait_for()
    assert page.evaluate("window.stillTheSamePage") is True


def test_the_browsers_proof_check_agrees_with_the_reference_vectors(watched: Watched) -> None:
    """verify.js against transparency-dev's inclusion vectors, run by Chromium's own SHA-256."""
    vectors = json.loads(
        (
            Path(__file__).resolve().parents[1] / "vectors" / "transparency-dev-merkle.json"
        ).read_text()
    )["inclusion"]
    page = watched.open("/#/log")
    refused = page.evaluate(
        """async (vectors) => {
            const v = await import("/verify.js");
            const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
            const out = [];
            for (const t of vectors) {
                try {
                    await v.verifyInclusion(t.leafIdx, t.treeSize, b64(t.leafHash),
                                            (t.proof || []).map(b64), b64(t.root));
                    out.push(false);
                } catch (error) {
                    if (!(error instanceof v.VerificationError)) throw error;
                    out.push(true);
                }
            }
            return out;
        }""",
        vectors,
    )
    assert len(vectors) > 10
    assert refused == [bool(t["wantErr"]) for t in vectors]


def test_an_entry_with_any_unicode_verifies_with_the_browsers_own_jcs(watched: Watched) -> None:
    dan = watched.server.community.members["Dan"]
    # No control character (a tab, say): SPEC section 2 refuses them in every text field.
    title = 'Ünïcødé “quotes” "straight" \\ back\\slash 😀 日本語 \u2028 \u00a0 \u200d é'
    response = httpx.post(
        watched.server.url + "/v1/entries", json=dan.submit(title, tags=["ß", "a"])
    )
    assert response.status_code == 201, response.text
    index = response.json()["index"]
    page = watched.open(f"/#/log/{index}")
    page.locator("#proof-verdict.ok").wait_for()
    assert page.locator("#proof-result li.ok").count() == 4


def test_a_tampered_checkpoint_shows_as_failed(watched: Watched) -> None:
    def bump_the_size(route: Any) -> None:
        response = route.fetch()
        lines = response.text().split("\n")
        lines[1] = str(int(lines[1]) + 1)
        route.fulfill(response=response, body="\n".join(lines))

    watched.page.route("**/v1/log/checkpoint", bump_the_size)
    page = watched.open("/#/log/2")
    page.locator("#proof-verdict.bad").wait_for()
    assert "signature does not verify" in page.locator("#proof-verdict").inner_text()
    assert page.locator("#checkpoint-verdict").inner_text().startswith("✗")


def test_a_new_network_shows_its_genesis_and_founders(browser: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = make_engine(url)
    upgrade(engine)
    founder = Signer("demo")
    founders = [{"member": founder.public, "name": "Zoë", "reputation": "10", "tokens": "5"}]
    community = Community(new_ledger(engine, SigningKey.generate(), "example", founders), {})
    for server in serve(url, community):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        w = Watched(context.new_page(), server)
        page = w.open("/")
        page.locator("#feed li", has_text="Genesis of demo with 1 founder").wait_for()
        assert page.locator("#board-reputation tbody tr").first.inner_text().split("\t")[1] == "Zoë"
        w.shot("new-network")
        context.close()
        assert w.errors == []
    engine.dispose()


def test_the_overview_shows_the_state_root_of_the_stats(watched: Watched) -> None:
    page = watched.open("/")
    root = api(watched.server, "/v1/stats")["state_root"]
    shown = page.locator("#state-root")
    assert shown.get_attribute("title") == root
    assert shown.inner_text().rstrip("…") == root[:12]


def test_a_backfeed2_contribution_page_explains_backfeed2s_quality(
    browser: Any, tmp_path: Path, server: DashboardServer
) -> None:
    """backfeed/2's quality is W(1)/V(c) over weights read at the submission: the chart says
    so, and does not describe backfeed/1's (1 - W(0)/R) · W(1)/R, which the dmag network's
    page still does."""
    url = f"sqlite:///{tmp_path / 'b2.db'}"
    engine = make_engine(url)
    upgrade(engine)
    ada, bo = Signer("demo"), Signer("demo")
    founders = [
        {"member": ada.public, "name": "Ada", "reputation": "10", "tokens": "5"},
        {"member": bo.public, "name": "Bo", "reputation": "10", "tokens": "5"},
    ]
    ledger = new_ledger(engine, SigningKey.generate(), valuation.DEFAULT_VALUATION, founders)
    community = Community(ledger, {"Ada": ada, "Bo": bo})
    work = community.append(ada.submit("Write the FAQ", type="article")).id
    community.append(bo.evaluate(work, 1))
    for b2 in serve(url, community):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        w = Watched(context.new_page(), b2)
        caption = w.open(f"/#/contribution/{work}").locator("#quality-caption").inner_text()
        assert "W(1)/V(c)" in caption and "W(0)/R" not in caption, caption
        assert "when the contribution was submitted" in caption, caption
        context.close()
        assert w.errors == []
    engine.dispose()

    with_dmag = Watched(browser.new_page(), server)
    typo = server.community.contributions["typo"]
    caption = with_dmag.open(f"/#/contribution/{typo}").locator("#quality-caption").inner_text()
    assert "W(0)/R" in caption and "V(c)" not in caption, caption
    with_dmag.page.close()


def test_two_members_with_one_name_are_told_apart_by_a_short_key(
    browser: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'twins.db'}"
    engine = make_engine(url)
    upgrade(engine)
    community = Community(new_ledger(engine, SigningKey.generate(), "example", []), {})
    first, second, bob = Signer("demo"), Signer("demo"), Signer("demo")
    for server in serve(url, community):
        for signer, name in ((first, "Ann"), (bob, "Bob")):
            assert httpx.post(server.url + "/v1/entries", json=signer.join(name)).is_success
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        w = Watched(context.new_page(), server)
        page = w.open("/")
        page.wait_for_selector("#live.on")
        feed = page.locator("#feed")
        assert feed.locator("a.member", has_text="Ann").first.inner_text() == "Ann"
        # A second Ann joins while the page is open: both are now shown with a short key.
        assert httpx.post(server.url + "/v1/entries", json=second.join("Ann")).is_success
        page.locator(f"#feed a.member[data-key='{second.public}']").wait_for()
        page.wait_for_function(
            "() => [...document.querySelectorAll('#feed a.member')]"
            ".filter((a) => a.textContent.startsWith('Ann (')).length === 2"
        )
        for signer in (first, second):
            label = feed.locator(f"a.member[data-key='{signer.public}']").first.inner_text()
            assert label == f"Ann ({signer.public[:6]}…)"
        assert feed.locator(f"a.member[data-key='{bob.public}']").first.inner_text() == "Bob"
        # A fresh page knows both names before it draws the feed.
        page = w.open("/#/log")
        labels = page.locator("#log-entries a.member").all_inner_texts()
        assert f"Ann ({first.public[:6]}…)" in labels and f"Ann ({second.public[:6]}…)" in labels
        w.shot("repeated-names")
        context.close()
        assert w.errors == []
    engine.dispose()


def test_the_api_docs_render_offline_under_their_csp(browser: Any, server: DashboardServer) -> None:
    # Swagger UI from this server only: the page shows every operation, and the browser reports
    # no error (a CSP violation is one) and no request to anywhere else.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=False)
    page = context.new_page()
    page.set_default_timeout(15_000)
    w = Watched(page, server)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock")
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/v1/entries" in o for o in operations), operations
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    context.close()
    assert w.errors == [], (w.errors, w.requests)
    assert all(u.startswith((server.url + "/", "data:")) for u in w.requests), w.requests


def _wait_for_figures_verdict(page: Page) -> str:
    verdict = page.locator("#figures-verdict.ok, #figures-verdict.bad")
    verdict.wait_for()
    return str(verdict.inner_text())


def test_the_member_page_proves_its_figures_against_the_signed_checkpoint(
    watched: Watched,
) -> None:
    # A name beyond ASCII: the record's JCS bytes must be the ones the server hashed.
    zoe = Signer("demo")
    response = httpx.post(watched.server.url + "/v1/entries", json=zoe.join("Zoë “Z” 😀 日本"))
    assert response.status_code == 201, response.text
    for who in (watched.server.community.members["Bonnie"].public, zoe.public):
        size = api(watched.server, "/v1/state")["tree_size"]
        page = watched.open(f"/#/member/{who}")
        verdict = _wait_for_figures_verdict(page)
        assert verdict.startswith(f"✓ Figures proven against checkpoint {size}:"), verdict
        paths = [u.removeprefix(watched.server.url) for u in watched.requests]
        assert f"/v1/state/proof?key=member%2F{who}&tree_size={size}" in paths, paths
    watched.shot("member-figures-proven")


def test_a_forged_state_proof_shows_the_figures_as_not_proven(watched: Watched) -> None:
    def richer(route: Any) -> None:
        response = route.fetch()
        proof = response.json()
        proof["value"]["tokens"] = "1000000"
        route.fulfill(response=response, body=json.dumps(proof))

    watched.page.route("**/v1/state/proof?*", richer)
    bonnie = watched.server.community.members["Bonnie"]
    page = watched.open(f"/#/member/{bonnie.public}")
    verdict = _wait_for_figures_verdict(page)
    assert verdict.startswith("✗ Figures not verified:"), verdict
    assert "not the checkpoint\u2019s state root" in verdict
    watched.shot("member-figures-forged")


def test_a_proof_that_hides_a_member_shows_as_not_proven(watched: Watched) -> None:
    def hidden(route: Any) -> None:
        response = route.fetch()
        proof = response.json()
        proof["value"] = None
        route.fulfill(response=response, body=json.dumps(proof))

    watched.page.route("**/v1/state/proof?*", hidden)
    cleo = watched.server.community.members["Cleo"]
    verdict = _wait_for_figures_verdict(watched.open(f"/#/member/{cleo.public}"))
    assert verdict.startswith("✗ Figures not verified:") and "folds to" in verdict, verdict


def test_figures_against_a_checkpoint_signed_by_another_key_are_not_proven(
    watched: Watched,
) -> None:
    from ledger.checkpoint import sign_note

    def resigned(route: Any) -> None:
        response = route.fetch()
        body = response.text().split("\n\n", 1)[0] + "\n"
        name = response.text().split("\n\n", 1)[1].split(" ")[1]
        route.fulfill(response=response, body=sign_note(body, SigningKey.generate(), name))

    watched.page.route("**/v1/log/checkpoint", resigned)
    dan = watched.server.community.members["Dan"]
    verdict = _wait_for_figures_verdict(watched.open(f"/#/member/{dan.public}"))
    assert verdict.startswith("✗ Figures not verified: no signature by"), verdict


def test_the_browsers_state_proof_check_agrees_with_valuation_statemap(watched: Watched) -> None:
    """verify.js's fold against Python's, on present and absent keys of a small map."""
    from valuation.statemap import StateMap

    records: dict[str, Any] = {
        f"member/{i:064x}": {"name": f"M{i}", "tokens": str(i)} for i in range(40)
    }
    records["network"] = {"algorithm": "backfeed/1", "params": {"a": 1, "b": None}}
    state = StateMap.of(records.items())
    keys = [*list(records)[:5], "network", "member/" + "f" * 64, "absent"]
    proofs = [state.prove(key, None).to_json() for key in keys]
    forged = {**proofs[0], "value": {**proofs[0]["value"], "tokens": "7"}}
    page = watched.open("/#/log")
    results = page.evaluate(
        """async ([proofs, root]) => {
            const v = await import("/verify.js");
            const rootBytes = Uint8Array.from(root.match(/../g).map((b) => parseInt(b, 16)));
            const out = [];
            for (const p of proofs) {
                try {
                    out.push(["ok", await v.verifyStateProof(p, p.key, p.tree_size, rootBytes)]);
                } catch (error) {
                    if (!(error instanceof v.VerificationError)) throw error;
                    out.push(["refused", error.message]);
                }
            }
            return out;
        }""",
        [[*proofs, forged], state.root.hex()],
    )
    assert results[: len(keys)] == [["ok", records.get(key)] for key in keys]
    assert results[-1][0] == "refused"


def test_figures_the_server_shows_other_than_the_proven_ones_are_flagged(
    watched: Watched,
) -> None:
    eve = watched.server.community.members["Eve"]

    served: dict[str, str] = {}

    def inflated(route: Any) -> None:
        response = route.fetch()
        member = response.json()
        served["tokens"] = member["tokens"]
        member["tokens"] = "999"
        route.fulfill(response=response, body=json.dumps(member))

    watched.page.route(f"**/v1/members/{eve.public}", inflated)
    verdict = _wait_for_figures_verdict(watched.open(f"/#/member/{eve.public}"))
    assert verdict.startswith("✗ The figures shown are not the ones proven at checkpoint"), verdict
    assert f"tokens {served['tokens']}" in verdict

// The dashboard: hash routes over the public API.
//   #/                    overview: network, leaderboards, contributions, entries arriving live
//   #/member/<key>        a member: figures proven against the signed checkpoint, figures over
//                         log index, every change explained
//   #/contribution/<id>   a contribution: evaluations in order, quality over time, what it paid
//   #/log[/<index>]       the signed checkpoint, and an entry's inclusion checked in the browser

import { stepChart } from "./chart.js";
import {
  allByIndex,
  allByOffset,
  amount,
  api,
  fromHex,
  fromUnits,
  h,
  hex,
  percent,
  short,
  signed,
  text,
  units,
  when,
} from "./util.js";
import {
  leafHash,
  verifyCheckpoint,
  verifyEntry,
  verifyInclusion,
  verifyStateProof,
  VerificationError,
} from "./verify.js";

const main = document.getElementById("main");
const names = new Map(); // member key -> name
const titles = new Map(); // contribution id -> title
let generation = 0; // bumped on every route change; stale pages stop updating

// --- names and links ---------------------------------------------------------------------

/** A name or title from the cache, else from the API (and cached); a short id if none. */
async function cached(map, id, path, field) {
  if (!map.has(id)) {
    try {
      map.set(id, (await api(path))[field]);
    } catch {
      return short(id);
    }
  }
  return map.get(id);
}

const nameOf = (key) => cached(names, key, `/v1/members/${key}`, "name");
const titleOf = (cid) => cached(titles, cid, `/v1/contributions/${cid}`, "title");

/** A member's name, with a short key beside it when another known member has the same name. */
function memberLabel(key, name) {
  const shown = name ?? names.get(key);
  if (shown === undefined) return short(key);
  for (const [other, known] of names) {
    if (other !== key && known === shown) return `${shown} (${short(key, 6)})`;
  }
  return shown;
}

function memberLink(key, name) {
  if (name != null && !names.has(key)) names.set(key, name);
  return h("a", { href: `#/member/${key}`, class: "member", "data-key": key }, memberLabel(key, name));
}

/** After a name is learnt, label again every link to a member whose name is now shared. */
function relabelMembers() {
  for (const link of main.querySelectorAll("a.member[data-key]")) {
    const label = memberLabel(link.dataset.key);
    if (link.textContent !== label) link.textContent = label;
  }
}

function contributionLink(cid, title) {
  return h("a", { href: `#/contribution/${cid}` }, `“${title ?? titles.get(cid) ?? short(cid)}”`);
}

function indexLink(index) {
  return h("a", { href: `#/log/${index}`, class: "idx", title: `check entry ${index}'s inclusion` }, `#${index}`);
}

// --- live events -------------------------------------------------------------------------

const handlers = new Set();
const liveBadge = document.getElementById("live");

function connectLive() {
  const source = new EventSource("/v1/events");
  source.addEventListener("open", () => {
    liveBadge.textContent = "live";
    liveBadge.className = "live on";
  });
  source.addEventListener("error", () => {
    liveBadge.textContent = "reconnecting…";
    liveBadge.className = "live off";
  });
  source.addEventListener("append", (event) => {
    const data = JSON.parse(event.data);
    for (const fn of handlers) fn(data);
  });
}

function onLive(fn) {
  const mine = generation;
  const wrapped = (data) => {
    if (mine !== generation) handlers.delete(wrapped);
    else fn(data);
  };
  handlers.add(wrapped);
}

// --- pieces shared by pages -----------------------------------------------------------------

function section(title, ...children) {
  const id = "h-" + title.toLowerCase().replace(/[^a-z]+/g, "-");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

function stat(label, value, extra) {
  return h("div", { class: "stat" }, h("dt", {}, label), h("dd", {}, value, extra ? h("small", {}, extra) : null));
}

/** A table; with `stack`, each row becomes a small card on a narrow screen, cells labelled. */
function table(head, rows, attrs = {}, stack = false) {
  const labels = head.map((c) => c.label ?? c);
  if (stack) {
    for (const tr of rows) {
      [...tr.children].forEach((td, i) => td.setAttribute("data-label", labels[i] || ""));
    }
  }
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { ...attrs, class: [attrs.class, stack ? "stack" : ""].filter(Boolean).join(" ") },
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col", class: c.cls }, c.label ?? c)))),
      h("tbody", {}, rows),
    ),
  );
}

function empty(message) {
  return h("p", { class: "muted" }, message);
}

const KINDS = {
  "member.join": "joined",
  "contribution.submit": "submitted",
  "evaluation.cast": "evaluated",
};

async function describe(item) {
  const entry = item.entry;
  const body = entry.body;
  // The log key signs the network's own entries; it is not a member.
  if (entry.kind === "network.genesis") {
    return [h("strong", {}, "Genesis"), ` of ${entry.network}`, body.founders.length ? ` with ${body.founders.length} founder${body.founders.length === 1 ? "" : "s"}` : ""];
  }
  if (entry.kind === "network.params") return h("strong", {}, "New valuation parameters");
  const who = memberLink(entry.author, await nameOf(entry.author));
  switch (entry.kind) {
    case "member.join":
      return [who, " joined", body.referrer ? [", invited by ", memberLink(body.referrer, await nameOf(body.referrer))] : ""];
    case "contribution.submit":
      return [who, " submitted ", contributionLink(item.id, body.title)];
    case "evaluation.cast":
      return [who, " evaluated ", contributionLink(body.contribution, await titleOf(body.contribution)), " ", vote(body.value)];
    default:
      return [who, " ", KINDS[entry.kind] || entry.kind];
  }
}

function vote(value) {
  return h("span", { class: `vote v${value}`, title: `value ${value}` }, value === 1 ? "▲ 1" : value === 0 ? "▼ 0" : String(value));
}

async function feedItem(item, fresh = false) {
  return h(
    "li",
    { class: fresh ? "fresh" : "", "data-index": item.index },
    indexLink(item.index),
    h("span", { class: "what" }, await describe(item)),
    when(item.logged_at),
  );
}

// --- overview ------------------------------------------------------------------------------

async function leaderboard(by) {
  const page = await api("/v1/leaderboard", { by, limit: 10 });
  const other = by === "reputation" ? "tokens" : "reputation";
  if (!page.items.length) return empty("No members yet: the first to join appears here.");
  return table(
    [{ label: "#", cls: "n" }, "Member", { label: by, cls: "n" }, { label: other, cls: "n" }],
    page.items.map((m, i) =>
      h(
        "tr",
        { "data-member": m.member },
        h("td", { class: "n muted" }, String(i + 1)),
        h("td", {}, memberLink(m.member, m.name)),
        h("td", { class: "n strong" }, amount(m[by])),
        h("td", { class: "n" }, amount(m[other])),
      ),
    ),
    { id: `board-${by}`, "aria-label": `Members by ${by}` },
  );
}

async function overview() {
  // Counts from /v1/stats and only the top of each list: the page costs the same at any size.
  const [genesis, state, best] = await Promise.all([
    api("/v1/entries", { start: 0, limit: 1 }),
    api("/v1/stats"),
    api("/v1/contributions", { order_by: "score", limit: 8 }),
  ]);
  const top = best.items;
  for (const c of top) titles.set(c.id, c.title);
  await ensureNames(top.map((c) => c.author));
  const g = genesis.items[0]?.entry;
  const size = h("span", { id: "tree-size", class: "num" }, String(state.tree_size));
  const memberCount = h("span", { id: "member-count", class: "num" }, String(state.members));
  const contributionCount = h("span", { id: "contribution-count", class: "num" }, String(state.contributions));

  const boards = h("div", { class: "grid2" });
  const renderBoards = async () => {
    const [rep, tok] = await Promise.all([leaderboard("reputation"), leaderboard("tokens")]);
    boards.replaceChildren(
      section("By reputation", rep),
      section("By tokens", tok),
    );
  };
  await renderBoards();

  const topList = top.length
    ? h(
        "ol",
        { class: "contribs" },
        top.map((c) =>
          h(
            "li",
            {},
            contributionLink(c.id, c.title),
            h("span", { class: "muted" }, " by ", memberLink(c.author)),
            h("span", { class: "meter", title: `quality ${c.quality}` }, h("span", { style: { width: `${Math.min(100, Number(c.quality) * 100)}%` } })),
            h("small", { class: "muted" }, "quality ", percent(c.quality), " · ", `${c.evaluations.length} evaluation${c.evaluations.length === 1 ? "" : "s"}`),
          ),
        ),
      )
    : empty("No contributions yet.");

  const start = Math.max(0, state.tree_size - 12);
  const latest = await api("/v1/entries", { start, limit: 12 });
  await ensureNames(memberAuthors(latest.items));
  const feed = h("ol", { id: "feed", class: "feed", "aria-live": "polite", "aria-relevant": "additions" });
  for (const item of latest.items.reverse()) feed.append(await feedItem(item));

  let pending = null;
  onLive(async (event) => {
    size.textContent = String(event.tree_size);
    if (event.kind === "member.join") memberCount.textContent = String(Number(memberCount.textContent) + 1);
    if (event.kind === "contribution.submit") {
      contributionCount.textContent = String(Number(contributionCount.textContent) + 1);
    }
    const item = await api(`/v1/entries/${event.id}`);
    if (item.entry.kind === "member.join") names.set(item.entry.author, item.entry.body.name);
    if (item.entry.kind === "contribution.submit") titles.set(item.id, item.entry.body.title);
    feed.prepend(await feedItem(item, true));
    if (item.entry.kind === "member.join") relabelMembers();
    while (feed.children.length > 30) feed.lastElementChild.remove();
    clearTimeout(pending);
    pending = setTimeout(renderBoards, 250);
  });

  return h(
    "div",
    {},
    h(
      "section",
      { class: "hero" },
      h("h1", {}, g ? g.network : "Multitude"),
      g ? h("p", { class: "muted" }, `${g.body.origin} · valued with ${g.body.valuation.algorithm}`) : null,
      h(
        "dl",
        { class: "stats" },
        stat("Entries in the log", size),
        stat("Members", memberCount),
        stat("Contributions", contributionCount),
        stat("State root", h("code", { id: "state-root", title: state.state_root }, short(state.state_root, 12))),
      ),
    ),
    boards,
    h(
      "div",
      { class: "grid2" },
      section("Contributions by score", topList),
      section("Latest entries", h("p", { class: "muted small" }, "New entries appear here as they are logged."), feed),
    ),
  );
}

// --- explanations (the same words as `multitude explain`) ------------------------------------

const CAUSES = {
  genesis: "founder",
  join: "joined",
  fee: "fee",
  stake_fee: "stake fee",
  evaluator_fund: "evaluator fund share",
  alignment_reward: "alignment reward",
  contributor_reward: "contributor reward",
  referral_share: "referral share",
  referral_stake: "referral stake",
};

function reason(member, posting) {
  const c = posting.contribution ? contributionLink(posting.contribution) : "";
  const who =
    posting.evaluator === member
      ? "their own"
      : posting.evaluator
        ? [memberLink(posting.evaluator), "’s"]
        : "";
  switch (posting.cause) {
    case "genesis":
      return "given by the genesis entry";
    case "join":
      return "given on joining";
    case "fee":
      return ["submitting ", c];
    case "stake_fee":
      return ["staked on evaluating ", c];
    case "evaluator_fund":
      return ["evaluated ", c, ": a share of its evaluator fund"];
    case "alignment_reward":
      if (!posting.evaluator) return ["up-voted ", c, " before others: a share of its evaluator rewards"];
      return ["agreed with ", who, " evaluation of ", c];
    case "contributor_reward":
      return [who, " evaluation of ", c, " raised its score"];
    case "referral_share":
      return ["a referee’s reward, from ", who, " evaluation of ", c];
    case "referral_stake":
      return String(posting.amount).startsWith("-")
        ? "staked on a newcomer it referred"
        : "staked on it by its referrer when it joined";
    default:
      return posting.cause;
  }
}

async function ensureTitles(cids) {
  await Promise.all([...new Set(cids)].filter((c) => c && !titles.has(c)).map(titleOf));
}

/** The members who signed these entries (the log key signs the network's own). */
function memberAuthors(items) {
  return items.filter((item) => !item.entry.kind.startsWith("network.")).map((item) => item.entry.author);
}

async function ensureNames(keys) {
  await Promise.all([...new Set(keys)].filter((k) => k && !names.has(k)).map(nameOf));
}

// --- member --------------------------------------------------------------------------------

const LIST = 50;

/** A list shown a page at a time, with a button for the next; `source(offset, limit)` gives a
 * page `{items, next}` as the API's offset-paginated lists do. */
async function pagedList(id, source, item, none) {
  const list = h("ul", { class: "plain", id });
  const more = h("button", { type: "button", class: "more", id: `${id}-more` }, "Show more");
  let next = 0;
  const load = async () => {
    const page = await source(next, LIST);
    for (const x of page.items) list.append(item(x));
    next = page.next;
    more.hidden = next === null;
    return page.items.length;
  };
  more.addEventListener("click", () => load());
  return (await load()) ? [list, more] : empty(none);
}

async function member(key) {
  const [m, history, state] = await Promise.all([
    api(`/v1/members/${key}`),
    allByIndex(`/v1/members/${key}/history`),
    api("/v1/state"),
  ]);
  names.set(key, m.name);
  // Titles for the explanation: its own evaluations name most contributions its postings cite.
  const evaluated = await allByOffset(`/v1/members/${key}/evaluations`);
  for (const e of evaluated) titles.set(e.contribution, e.title);
  const own = await pagedList(
    "own-contributions",
    (offset, limit) => api(`/v1/members/${key}/contributions`, { offset, limit }),
    (c) => {
      titles.set(c.id, c.title);
      return h("li", {}, contributionLink(c.id, c.title), h("small", { class: "muted" }, " ", c.type, " · quality ", percent(c.quality), " · ", when(c.logged_at)));
    },
    "None yet.",
  );
  const evaluations = await pagedList(
    "own-evaluations",
    (offset, limit) => ({ items: evaluated.slice(offset, offset + limit), next: offset + limit < evaluated.length ? offset + limit : null }),
    (e) => h("li", {}, vote(e.value), " ", contributionLink(e.contribution, e.title), h("small", { class: "muted" }, " at ", indexLink(e.index))),
    "None yet.",
  );
  const postings = history.flatMap((item) => item.postings);
  await ensureNames([...postings.map((p) => p.evaluator), m.referrer]);
  await ensureTitles(postings.map((p) => p.contribution));

  const figure = (asset, cls) =>
    h(
      "figure",
      {},
      stepChart({
        title: `${m.name}'s ${asset} over log index`,
        series: [{ label: asset, cls, points: history.map((i) => [i.index, Number(i[asset])]) }],
        xEnd: state.tree_size - 1,
        yLabel: asset,
      }),
      h("figcaption", {}, `${asset[0].toUpperCase()}${asset.slice(1)} after each entry that changed it`),
    );
  const charts = h("div", { class: "grid2 charts", id: "member-charts" }, figure("reputation", "rep"), figure("tokens", "tok"));

  // Every posting with the running figures; the last of an index must equal the stored figure.
  const groups = [];
  let rep = 0n;
  let tok = 0n;
  let allAddUp = true;
  for (const item of history) {
    const group = [];
    groups.push(group);
    item.postings.forEach((p, n) => {
      if (p.asset === "reputation") rep += units(p.amount);
      else tok += units(p.amount);
      const lastOfIndex = n === item.postings.length - 1;
      const ok = !lastOfIndex || (rep === units(item.reputation) && tok === units(item.tokens));
      allAddUp &&= ok;
      group.push(
        h(
          "tr",
          { class: lastOfIndex ? "end" : "" },
          h("td", { class: "n" }, n === 0 ? indexLink(item.index) : ""),
          h("td", {}, h("span", { class: `cause ${p.cause}` }, CAUSES[p.cause] || p.cause)),
          h("td", { class: "wide" }, reason(key, p)),
          h("td", { class: "n mono wide" }, signed(p.amount), h("small", { class: "muted" }, p.asset === "reputation" ? " rep" : " tok")),
          h("td", { class: `n mono ${lastOfIndex ? "strong" : "muted"}` }, fromUnits(rep)),
          h("td", { class: `n mono ${lastOfIndex ? "strong" : "muted"}` }, fromUnits(tok), ok ? "" : h("span", { class: "bad" }, " ✗")),
        ),
      );
    });
  }
  // Newest index first, its changes in order; long histories open a page at a time.
  groups.reverse();
  const SHOWN = 30;
  groups.forEach((group, g) => {
    for (const tr of group) if (g >= SHOWN) tr.hidden = true;
  });
  const rows = groups.flat();
  let shown = SHOWN;
  const more = h("button", {
    type: "button",
    class: "more",
    id: "explain-more",
    onclick: () => {
      groups.slice(shown, shown + 100).flat().forEach((tr) => (tr.hidden = false));
      shown += 100;
      more.textContent = `Show more (${Math.max(0, groups.length - shown)} indexes left)`;
      more.hidden = shown >= groups.length;
    },
  }, `Show more (${groups.length - SHOWN} indexes left)`);
  more.hidden = groups.length <= SHOWN;
  const explanation = section(
    "Why these figures",
    h(
      "p",
      { class: allAddUp ? "verdict ok" : "verdict bad", id: "adds-up" },
      allAddUp
        ? `✓ The ${postings.length} changes below add up exactly, at every one of ${history.length} indexes, to the figures the ledger holds.`
        : "✗ Some changes do not add up to the ledger's figures (marked ✗).",
    ),
    table(
      [{ label: "Index", cls: "n" }, "Cause", "Why", { label: "Amount", cls: "n" }, { label: "Reputation", cls: "n" }, { label: "Tokens", cls: "n" }],
      rows,
      { id: "explanation", class: "explain" },
      true,
    ),
    more,
  );

  onLive((event) => {
    if (event.members.some((x) => x.member === key)) refreshSoon();
  });
  const proven = h("p", { class: "verdict", id: "figures-verdict", role: "status" }, "Checking these figures against the signed checkpoint…");
  proveFigures(m, proven);

  return h(
    "div",
    {},
    h(
      "section",
      { class: "hero" },
      h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Overview"), " / member"),
      h("h1", {}, m.name),
      h("p", { class: "key mono", title: "public key" }, m.member),
      h(
        "dl",
        { class: "stats" },
        stat("Reputation", amount(m.reputation, 3), `rank ${m.rank}`),
        stat("Tokens", amount(m.tokens, 3)),
        stat("Influence", percent(m.influence, 2)),
        stat("Invited by", m.referrer ? memberLink(m.referrer) : "—"),
      ),
      proven,
    ),
    section("Over time", charts),
    explanation,
    h(
      "div",
      { class: "grid2" },
      section("Contributions", own),
      section("Evaluations", h("p", { class: "muted small" }, "Each as it stands: a changed vote shows once, at its change."), evaluations),
    ),
  );
}

// --- contribution --------------------------------------------------------------------------

/** What the quality chart plots, in each algorithm's own terms (docs/valuation/). */
const QUALITY_CAPTIONS = {
  "backfeed/1":
    "(1 − W(0)/R) · W(1)/R just after its submission and each of its evaluations (ticks), and now. " +
    "The dots are exact; between them other entries move R and the evaluators’ reputation, so the dotted line only joins them.",
  "backfeed/2":
    "W(1)/V(c), the share of the weight that evaluated it that up-voted it, just after its submission and each of its evaluations (ticks), and now. " +
    "Every weight is what its evaluator held when the contribution was submitted, so only its own evaluations move it.",
};

async function contribution(cid) {
  const [c, state, genesis] = await Promise.all([
    api(`/v1/contributions/${cid}`),
    api("/v1/state"),
    api("/v1/entries", { start: 0, limit: 1 }),
  ]);
  const algorithm = genesis.items[0]?.entry.body.valuation.algorithm;
  titles.set(c.id, c.title);
  const author = await api(`/v1/members/${c.author}`);
  names.set(author.member, author.name);
  // Its figures just after its submission and each of its evaluations, exact at those
  // indexes; and its figures now, the last point.
  const history = await allByIndex(`/v1/contributions/${cid}/history`);
  const rows = history.filter((item) => item.kind === "evaluation.cast");
  const points = history.map((item) => [item.index, Number(item.quality)]);
  const lastIndex = history.length ? history[history.length - 1].index : c.index;
  if (state.tree_size - 1 > lastIndex) points.push([state.tree_size - 1, Number(c.quality)]);
  const postings = history.flatMap((item) => item.postings);
  await ensureNames([...rows.map((r) => r.evaluator), ...postings.map((p) => p.member)]);

  onLive((event) => {
    // Only its own evaluations: a replay per vote anywhere would be too much on a busy log.
    if (event.contribution === cid) refreshSoon();
  });

  const evaluations = table(
    [{ label: "Index", cls: "n" }, "Evaluator", "Value", { label: "Quality after", cls: "n" }, { label: "Maximum score after", cls: "n" }, ""],
    rows.map((r) =>
      h(
        "tr",
        { class: r.current ? "" : "superseded" },
        h("td", { class: "n" }, indexLink(r.index)),
        h("td", {}, memberLink(r.evaluator)),
        h("td", {}, vote(r.value)),
        h("td", { class: "n" }, percent(r.quality, 2)),
        h("td", { class: "n" }, r.max_score === null ? "—" : percent(r.max_score, 2)),
        h("td", { class: "muted small" }, r.current ? "current" : "changed later"),
      ),
    ),
    { id: "evaluations" },
    true,
  );

  // What it paid and cost: the postings of its submission and of each of its evaluations.
  const totals = new Map();
  for (const p of postings) {
    const key = `${p.member} ${p.cause} ${p.asset}`;
    totals.set(key, (totals.get(key) ?? 0n) + units(p.amount));
  }
  const rank = (k) => (k === c.author ? "" : names.get(k) ?? k); // the author first, then by name
  const paid = [...totals.entries()]
    .map(([key, total]) => [...key.split(" "), total])
    .sort((a, b) => rank(a[0]).localeCompare(rank(b[0])) || a[1].localeCompare(b[1]) || a[2].localeCompare(b[2]));

  const weights = h(
    "div",
    { class: "weights", role: "img", "aria-label": c.weights.map((w) => `value ${w.value}: ${(Number(w.fraction) * 100).toFixed(1)} % of reputation`).join(", ") },
    [...c.weights].reverse().map((w) => h("span", { class: `w v${w.value}`, style: { width: `${Number(w.fraction) * 100}%` }, title: `value ${w.value}: ${w.fraction} of all reputation` })),
  );

  return h(
    "div",
    {},
    h(
      "section",
      { class: "hero" },
      h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Overview"), " / contribution"),
      h("h1", {}, c.title),
      h("p", { class: "muted" }, `${c.type} by `, memberLink(c.author, author.name), " · ", when(c.logged_at), " · ", indexLink(c.index)),
      h(
        "dl",
        { class: "stats" },
        stat("Quality", percent(c.quality, 2)),
        stat("Feed score", percent(c.score, 2), "fades with age"),
        stat("Maximum score", c.max_score === null ? "—" : percent(c.max_score, 2), "what rewards were paid up to"),
        stat("Evaluator fund left", amount(c.fund, 3), "tokens"),
      ),
      weights,
      h(
        "p",
        { class: "legend small muted" },
        h("span", { class: "key-swatch v1" }), " upvoted (1)  ",
        h("span", { class: "key-swatch v0" }), " downvoted (0)  ",
        h("span", { class: "key-swatch none" }), ` not evaluated — engaged ${(Number(c.engaged_fraction) * 100).toFixed(1)} % of all reputation`,
      ),
    ),
    section(
      "Quality over time",
      h(
        "figure",
        { id: "quality-chart" },
        stepChart({
          title: `Quality of “${c.title}” over log index`,
          series: [{ label: "quality", cls: "q", points }],
          joined: algorithm === "backfeed/2" ? "steps" : "dotted", // backfeed/2: only its own casts move it
          xEnd: state.tree_size - 1,
          markers: rows.map((r) => ({ x: r.index, cls: `v${r.value}`, title: `${names.get(r.evaluator)} evaluated ${r.value} at index ${r.index}` })),
          percent: true,
          wide: true,
          yLabel: "quality",
        }),
        h("figcaption", { id: "quality-caption" }, QUALITY_CAPTIONS[algorithm] ?? QUALITY_CAPTIONS["backfeed/1"]),
      ),
    ),
    section("Evaluations in order", rows.length ? evaluations : empty("Nobody has evaluated it yet.")),
    section(
      "What it paid and cost",
      paid.length
        ? table(
            ["Member", "Cause", { label: "Amount", cls: "n" }],
            paid.map(([k, cause, asset, total]) =>
              h(
                "tr",
                {},
                h("td", {}, memberLink(k)),
                h("td", {}, h("span", { class: `cause ${cause}` }, CAUSES[cause] || cause)),
                h("td", { class: "n mono" }, signed(fromUnits(total)), h("small", { class: "muted" }, asset === "reputation" ? " rep" : " tok")),
              ),
            ),
            { id: "paid" },
            true,
          )
        : empty("Nothing yet."),
    ),
  );
}

// --- the log -------------------------------------------------------------------------------

function check(label) {
  const mark = h("span", { class: "mark", "aria-hidden": "true" }, "…");
  const note = h("span", { class: "note" }, "");
  const li = h("li", { class: "pending" }, mark, h("span", {}, label), note);
  return {
    li,
    ok(detail = "") {
      li.className = "ok";
      mark.textContent = "✓";
      note.textContent = detail;
    },
    bad(detail) {
      li.className = "bad";
      mark.textContent = "✗";
      note.textContent = detail;
    },
  };
}

async function proveInclusion(index, out) {
  const verdict = h("p", { class: "verdict", id: "proof-verdict", role: "status" }, "Checking…");
  const steps = {
    checkpoint: check("the checkpoint is signed by the log’s key (Ed25519)"),
    leaf: check(`leaf ${index}: its hash is SHA-256(0x00 ‖ leaf bytes)`),
    entry: check("the entry is signed by its author, and its id is its hash"),
    proof: check("the inclusion proof leads to the checkpoint’s root (RFC 9162)"),
  };
  out.replaceChildren(verdict, h("ol", { class: "checks" }, Object.values(steps).map((s) => s.li)));
  let current = steps.checkpoint;
  try {
    const [note, vkey] = await Promise.all([text("/v1/log/checkpoint"), text("/v1/log/key")]);
    const cp = await verifyCheckpoint(note, vkey);
    current.ok(`tree size ${cp.treeSize}, root ${hex(cp.root).slice(0, 16)}…`);
    if (index >= cp.treeSize) throw new VerificationError(`entry ${index} is beyond the checkpoint’s ${cp.treeSize} entries`);

    current = steps.leaf;
    const response = await fetch(`/v1/log/leaves?start=${index}&limit=1`);
    if (!response.ok) throw new VerificationError(`no leaf ${index}`);
    const raw = new Uint8Array(await response.arrayBuffer());
    const bytes = raw[raw.length - 1] === 0x0a ? raw.slice(0, -1) : raw;
    const leaf = await leafHash(bytes);
    current.ok(hex(leaf).slice(0, 16) + "…");

    current = steps.entry;
    const { entry } = JSON.parse(new TextDecoder().decode(bytes));
    const id = await verifyEntry(entry);
    current.ok(`${entry.kind}, id ${id.slice(0, 16)}…`);

    current = steps.proof;
    const proof = await api("/v1/log/proof/inclusion", { index, tree_size: cp.treeSize });
    await verifyInclusion(index, cp.treeSize, leaf, proof.hashes.map(fromHex), cp.root);
    current.ok(`${proof.hashes.length} hashes`);

    verdict.className = "verdict ok";
    verdict.textContent = `✓ Entry ${index} is in the log the checkpoint signs (tree size ${cp.treeSize}).`;
  } catch (error) {
    current.bad(error.message);
    for (const s of Object.values(steps)) if (s.li.className === "pending") s.li.className = "skipped";
    verdict.className = "verdict bad";
    verdict.textContent = `✗ Not verified: ${error.message}`;
  }
}

/** The member's record in the state map, proven in this browser against the checkpoint the
 * log's key signed (SPEC section 5), and compared with the figures the page shows. */
async function proveFigures(m, verdict) {
  const say = (ok, message) => {
    verdict.className = `verdict ${ok ? "ok" : "bad"}`;
    verdict.textContent = message;
  };
  try {
    const [note, vkey] = await Promise.all([text("/v1/log/checkpoint"), text("/v1/log/key")]);
    const cp = await verifyCheckpoint(note, vkey);
    const key = `member/${m.member}`;
    const proof = await api("/v1/state/proof", { key, tree_size: cp.treeSize });
    const value = await verifyStateProof(proof, key, cp.treeSize, cp.stateRoot);
    if (value === null) {
      say(false, `✗ The signed state proves that this key is not a member at checkpoint ${cp.treeSize}.`);
      return;
    }
    const same = value.name === m.name && value.referrer === m.referrer && value.reputation === m.reputation && value.tokens === m.tokens;
    if (!same) {
      say(false, `✗ The figures shown are not the ones proven at checkpoint ${cp.treeSize} (reputation ${value.reputation}, tokens ${value.tokens}): reload to check again.`);
      return;
    }
    say(true, `✓ Figures proven against checkpoint ${cp.treeSize}: the log’s key signed its state root, and this member’s record folds to it (${proof.siblings.length} hashes, checked in your browser).`);
  } catch (error) {
    say(false, `✗ Figures not verified: ${error.message}`);
  }
}

async function logPage(indexText) {
  const [note, vkey, state] = await Promise.all([text("/v1/log/checkpoint"), text("/v1/log/key"), api("/v1/state")]);
  let signed = h("p", { class: "verdict", id: "checkpoint-verdict" }, "Checking the signature…");
  try {
    const cp = await verifyCheckpoint(note, vkey);
    signed = h("p", { class: "verdict ok", id: "checkpoint-verdict" }, `✓ Signed by the log’s key: ${cp.treeSize} entries, root ${hex(cp.root)}`);
  } catch (error) {
    signed = h("p", { class: "verdict bad", id: "checkpoint-verdict" }, `✗ ${error.message}`);
  }

  const size = state.tree_size;
  const index = indexText !== undefined ? Number(indexText) : Math.max(0, size - 1);
  const input = h("input", { id: "proof-index", type: "number", min: 0, max: Math.max(0, size - 1), value: index, required: true, inputmode: "numeric" });
  const result = h("div", { id: "proof-result" });
  const form = h(
    "form",
    {
      class: "prove",
      onsubmit: (event) => {
        event.preventDefault();
        const i = Number(input.value);
        history.replaceState(null, "", `#/log/${i}`);
        proveInclusion(i, result);
      },
    },
    h("label", { for: "proof-index" }, "Entry index"),
    input,
    h("button", { type: "submit" }, "Check inclusion"),
  );

  const latest = await api("/v1/entries", { start: Math.max(0, size - 15), limit: 15 });
  await ensureNames(memberAuthors(latest.items));
  const list = h("ol", { class: "feed", id: "log-entries" });
  for (const item of latest.items.reverse()) list.append(await feedItem(item));

  onLive(async (event) => {
    const item = await api(`/v1/entries/${event.id}`);
    list.prepend(await feedItem(item, true));
    if (item.entry.kind === "member.join") relabelMembers();
    input.max = String(event.index);
    const newNote = await text("/v1/log/checkpoint");
    checkpointText.textContent = newNote;
    try {
      const checked = await verifyCheckpoint(newNote, vkey);
      signed.className = "verdict ok";
      signed.textContent = `✓ Signed by the log’s key: ${checked.treeSize} entries, root ${hex(checked.root)}`;
    } catch (error) {
      signed.className = "verdict bad";
      signed.textContent = `✗ ${error.message}`;
    }
  });
  const checkpointText = h("pre", { id: "checkpoint", class: "note" }, note);

  const page = h(
    "div",
    {},
    h(
      "section",
      { class: "hero" },
      h("h1", {}, "The log"),
      h(
        "p",
        { class: "muted" },
        "An append-only Merkle tree (RFC 9162). Your browser checks what it is shown with its own SHA-256 and Ed25519: nothing here asks you to trust the server.",
      ),
    ),
    h(
      "div",
      { class: "grid2" },
      section("Latest checkpoint", checkpointText, signed),
      section("Verifier key", h("pre", { id: "verifier-key", class: "note" }, vkey.trim()), h("p", { class: "muted small" }, "name + key id + base64(0x01 ‖ Ed25519 public key), as C2SP signed notes write it.")),
    ),
    section("Check an entry", form, result),
    section("Latest entries", list),
  );
  if (indexText !== undefined) proveInclusion(index, result);
  return page;
}

// --- routing -------------------------------------------------------------------------------

const ROUTES = [
  [/^#?\/?$/, overview, "overview", () => "Overview"],
  [/^#\/member\/([0-9a-f]{64})$/, member, "", () => "Member"],
  [/^#\/contribution\/([0-9a-f]{64})$/, contribution, "", () => "Contribution"],
  [/^#\/log(?:\/(\d+))?$/, logPage, "log", () => "Log"],
];

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => route({ quiet: true }), 700);
}

/** Render the page the hash names; `quiet` re-renders in place (live updates). */
async function route({ quiet = false } = {}) {
  const mine = ++generation;
  const hash = location.hash;
  const found = ROUTES.find(([re]) => re.test(hash));
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (found && a.dataset.nav === found[2]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!quiet) main.setAttribute("aria-busy", "true");
  let view;
  try {
    if (!found) throw new Error(`there is no page at ${hash}`);
    const [re, page, , label] = found;
    view = await page(...hash.match(re).slice(1));
    document.title = `${label()} · Multitude`;
  } catch (error) {
    view = h("section", { class: "hero" }, h("h1", {}, "Not available"), h("p", { class: "verdict bad" }, error.message), h("p", {}, h("a", { href: "#/" }, "Back to the overview")));
  }
  if (mine !== generation) return;
  main.replaceChildren(view);
  main.removeAttribute("aria-busy");
  if (quiet) return;
  const heading = main.querySelector("h1");
  if (heading && document.activeElement !== document.body) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener("hashchange", () => route());
connectLive();
route();

// Small helpers shared by the pages: building DOM, reading the API, writing amounts.

/** Build an element: h("a", {href: "#/"}, "text", child, ...). Strings become text nodes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "style") Object.assign(el.style, value); // CSSOM: allowed by our CSP
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false || child === "") continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

/** GET a JSON (or problem+json) document from the API. */
export async function api(path, params = {}) {
  const query = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null),
  ).toString();
  const response = await fetch(query ? `${path}?${query}` : path, {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, `${path}: ${detail}`);
  }
  return response.json();
}

export async function text(path) {
  const response = await fetch(path);
  if (!response.ok) throw new ApiError(response.status, `${path}: ${response.statusText}`);
  return response.text();
}

/** Every item of a paginated list; `next` is an offset (members, contributions) or a log
 * index (history, entries), sent back as the `cursor` parameter. */
async function every(path, params, cursor) {
  const items = [];
  let at = 0;
  while (at !== null && at !== undefined) {
    const page = await api(path, { ...params, [cursor]: at, limit: 1000 });
    items.push(...page.items);
    at = page.next;
  }
  return items;
}

export const allByOffset = (path, params = {}) => every(path, params, "offset");
export const allByIndex = (path, params = {}) => every(path, params, "start");

// --- amounts: decimal strings with up to 9 places, exact as BigInt units of 10^-9 -----------

const PLACES = 9n;
const UNIT = 10n ** PLACES;

export function units(amount) {
  const negative = amount.startsWith("-");
  const [whole, frac = ""] = amount.replace(/^[-+]/, "").split(".");
  const value = BigInt(whole || "0") * UNIT + BigInt((frac + "000000000").slice(0, 9));
  return negative ? -value : value;
}

export function fromUnits(value) {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / UNIT;
  const frac = (abs % UNIT).toString().padStart(9, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${frac ? "." + frac : ""}`;
}

/** An amount for reading: grouped, a few places; the exact string goes in a tooltip. */
export function amount(value, places = 2) {
  const n = Number(value);
  const shown = n.toLocaleString("en", {
    minimumFractionDigits: 0,
    maximumFractionDigits: places,
  });
  return h("span", { class: "num", title: value }, shown);
}

/** A signed exact amount, coloured by sign. */
export function signed(value) {
  const negative = value.startsWith("-");
  return h(
    "span",
    { class: `num ${negative ? "neg" : "pos"}` },
    negative ? "−" + value.slice(1) : "+" + value,
  );
}

export function percent(fraction, places = 1) {
  return h("span", { class: "num", title: fraction }, `${(Number(fraction) * 100).toFixed(places)} %`);
}

export function short(hex, n = 8) {
  return hex ? `${hex.slice(0, n)}…` : "—";
}

export function when(iso) {
  const date = new Date(iso);
  const seconds = (Date.now() - date.getTime()) / 1000;
  let shown;
  if (seconds < 60) shown = "just now";
  else if (seconds < 3600) shown = `${Math.floor(seconds / 60)} min ago`;
  else if (seconds < 86400 && date.getDate() === new Date().getDate()) {
    shown = date.toLocaleTimeString("en", { timeStyle: "short" });
  } else shown = date.toLocaleDateString("en", { dateStyle: "medium" });
  return h("time", { datetime: iso, title: iso }, shown);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error(`not hex: ${text.slice(0, 16)}`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

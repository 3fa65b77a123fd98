// A chart in SVG of figures over log index: steps for figures that hold their value from one
// change to the next, or dots joined by a faint line for figures sampled at some indexes.

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const child of children) {
    if (child) el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

function ticks(min, max, count) {
  if (max === min) return [min];
  const raw = (max - min) / count;
  const step = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * step).find((m) => raw <= m) || 10 * step;
  const out = [];
  for (let v = Math.ceil(min / nice) * nice; v <= max + nice / 1e6; v += nice) out.push(+v.toFixed(10));
  return out;
}

function label(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 1 || a === 0) return `${+v.toFixed(2)}`;
  return `${+v.toPrecision(2)}`;
}

/**
 * series: [{label, cls, points: [[index, value], ...]}] in index order; each holds to `xEnd`.
 * markers: [{x, cls, title}] drawn as ticks on the x axis (e.g. evaluations).
 * joined: "steps" when a figure holds its value until its next point; "dotted" when the points
 * are samples of a figure that also moves in between: a faint straight line joins them, and the
 * last point is not held to `xEnd`.
 */
export function stepChart({ title, series, xEnd, markers = [], yLabel = "", percent = false, wide = false, joined = "steps" }) {
  // Drawn at about the width it will be shown at, so that its text stays readable on a phone.
  const W = Math.max(300, Math.min(wide ? 1000 : 640, window.innerWidth - 72));
  const H = wide ? 260 : 220;
  const pad = { l: 52, r: 16, t: 14, b: 34 };
  const xs = series.flatMap((se) => se.points.map((p) => p[0]));
  const ys = series.flatMap((se) => se.points.map((p) => p[1]));
  const x0 = Math.min(...xs, ...markers.map((m) => m.x));
  const x1 = Math.max(xEnd ?? 0, ...xs, x0 + 1);
  // From zero, unless the figure moves within a band far above it: then the band, padded.
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const y0 = lo > 0 && hi - lo < lo * 0.5 ? lo - (hi - lo || hi * 0.1) * 0.5 : Math.min(0, lo);
  let y1 = Math.max(hi, y0 + (percent ? 0.01 : 1));
  y1 += (y1 - y0) * 0.08;
  const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const Y = (y) => H - pad.b - ((y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const fmt = percent ? (v) => `${label(v * 100)} %` : label;

  const svg = s("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": title,
    preserveAspectRatio: "xMidYMid meet",
  });
  svg.append(s("title", {}, title));
  const grid = s("g", { class: "grid" });
  for (const v of ticks(y0, y1, 4)) {
    grid.append(s("line", { x1: pad.l, x2: W - pad.r, y1: Y(v), y2: Y(v) }));
    grid.append(s("text", { x: pad.l - 6, y: Y(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  for (const v of ticks(x0, x1, 6).filter((v) => Number.isInteger(v))) {
    grid.append(s("text", { x: X(v), y: H - pad.b + 16, "text-anchor": "middle" }, String(v)));
  }
  grid.append(
    s("text", { x: W - pad.r, y: H - 4, "text-anchor": "end", class: "axis-label" }, "log index"),
  );
  if (yLabel) grid.append(s("text", { x: pad.l, y: pad.t - 2, class: "axis-label" }, yLabel));
  svg.append(grid);

  for (const m of markers) {
    svg.append(
      s(
        "line",
        { class: `marker ${m.cls || ""}`, x1: X(m.x), x2: X(m.x), y1: H - pad.b, y2: pad.t },
        s("title", {}, m.title || ""),
      ),
    );
  }
  for (const se of series) {
    if (!se.points.length) continue;
    const steps = joined === "steps";
    let d = "";
    se.points.forEach(([x, y], i) => {
      d += i === 0 ? `M${X(x)},${Y(y)}` : steps ? `H${X(x)}V${Y(y)}` : `L${X(x)},${Y(y)}`;
    });
    if (steps) d += `H${X(x1)}`;
    const g = s("g", { class: `series ${se.cls || ""}` });
    // Presentation attributes, not a style: the page's CSP allows no inline styles.
    g.append(s("path", steps ? { d } : { d, "stroke-dasharray": "2 5", "stroke-opacity": 0.6 }));
    // Dots mark each change while there are few; a crowded line is clearer without them.
    for (const [x, y] of se.points.length <= 80 ? se.points : []) {
      g.append(
        s("circle", { cx: X(x), cy: Y(y), r: 3 }, s("title", {}, `${se.label} ${fmt(y)} at index ${x}`)),
      );
    }
    svg.append(g);
  }
  return svg;
}

// fexp ui: the page. Every value from the server (names, parameters, messages, notes) is
// attacker-controlled in a shared set: it reaches the DOM only through textContent/attributes
// set by the DOM API, never as HTML.
"use strict";
(function () {
  const C = window.fexpCharts;
  const ROW_H = 24;
  const MAX_CURVES = 150;
  const $ = (id) => document.getElementById(id);
  const S = {
    version: 0, sets: [], columns: [], rows: [], byId: new Map(), visible: [], filtered: [],
    where: [], whereIds: null, search: "", statusSel: new Set(), sort: { col: -1, desc: false },
    selected: new Set(), brushes: {}, brushed: null, view: "", expId: null, statuses: [],
    rowsVersion: 0, sorted: [], sortedKey: "",
  };
  const T = { timings: {} };

  // ---------------------------------------------------------------- helpers
  function el(tag, props, children) {
    const e = document.createElement(tag);
    if (props) for (const k in props) {
      if (k === "text") e.textContent = props[k];
      else if (k === "cls") e.className = props[k];
      else if (k.startsWith("data-")) e.setAttribute(k, props[k]);
      else e[k] = props[k];
    }
    if (children) for (const c of children) if (c) e.appendChild(c);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function text(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }
  async function api(path, params, init) {
    const q = new URLSearchParams();
    if (params) for (const [k, v] of params) q.append(k, v);
    const resp = await fetch("api/" + path + (params ? "?" + q.toString() : ""), Object.assign({ credentials: "same-origin" }, init || {}));
    const body = resp.headers.get("content-type", "").startsWith("application/json") ? await resp.json() : await resp.text();
    if (!resp.ok) throw new Error(body && body.error ? body.error : (typeof body === "string" ? body : resp.statusText));
    return body;
  }
  function idsParams(ids, extra) { return ids.map(i => ["id", i]).concat(extra || []); }
  function swatch(colour) { const s = el("span", { cls: "swatch" }); s.style.background = colour; return s; }
  function statusBadge(status) {
    const s = String(status);
    return el("span", { cls: "status" + (/^[a-z_]+$/.test(s) ? " status-" + s : ""), text: s });
  }
  function expLink(id, name) { return el("a", { cls: "exp", href: "#exp/" + encodeURIComponent(id), text: name, "data-exp": name }); }
  function colIndex(header) { return S.columns.findIndex(c => c.header === header); }
  function nameOf(row) { return row.c[colIndex("name")]; }

  // ---------------------------------------------------------------- rows
  function prepare(row) {
    row.name = row.c[colIndex("name")];
    row.text = null;
    S.byId.set(row.id, row);
    return row;
  }
  function searchText(row) {
    if (row.text === null) row.text = S.columns.map((c, i) => row.c[i] === null || row.c[i] === undefined ? "" : c.header + "=" + text(row.c[i])).concat([text(row.name), text(row.status)]).join(" ").toLowerCase();
    return row.text;
  }
  async function loadRows() {
    const body = await api("rows");
    S.version = body.version; S.sets = body.sets; S.columns = body.columns;
    S.byId = new Map(); S.rows = body.rows.map(prepare); S.rowsVersion++;
    if (S.where.length) await refreshWhere();
    renderStatuses(); buildHeader(); recompute();
  }
  function applyDelta(p) {
    if (p.reset || JSON.stringify(p.columns) !== JSON.stringify(S.columns)) return loadRows();
    for (const id of p.removed) S.byId.delete(id);
    const fresh = new Map(p.rows.map(r => [r.id, prepare(r)]));
    const seen = new Set();
    S.rows = S.rows.filter(r => S.byId.has(r.id)).map(r => { seen.add(r.id); return fresh.get(r.id) || r; });
    for (const [id, r] of fresh) if (!seen.has(id)) S.rows.push(r);
    S.rowsVersion++;
    S.version = p.version;
    renderStatuses(); recompute();
    if (S.where.length) refreshWhere().then(recompute).catch(e => showError(e.message));
    const touched = new Set(p.rows.map(r => r.id).concat(p.removed));
    onLive(touched);
  }

  function compareValues(a, b) {
    const an = a === null || a === undefined, bn = b === null || b === undefined;
    if (an || bn) return an && bn ? 0 : an ? 1 : -1;
    const ta = typeof a === "number", tb = typeof b === "number";
    if (ta && tb) return a - b;
    if (ta !== tb) return ta ? -1 : 1;
    return text(a).localeCompare(text(b), undefined, { numeric: true });
  }
  // Every row in the table's order, sorted again only when the rows or the sort change.
  function sortedRows() {
    const key = S.sort.col + ":" + S.sort.desc + ":" + S.rowsVersion;
    if (S.sortedKey === key) return S.sorted;
    const col = S.sort.col, sign = S.sort.desc ? -1 : 1;
    S.sorted = col < 0 ? S.rows : S.rows.slice().sort((a, b) => {
      const an = a.c[col] === null || a.c[col] === undefined, bn = b.c[col] === null || b.c[col] === undefined;
      if (an || bn) return an && bn ? 0 : an ? 1 : -1;  // missing last both ways
      return sign * compareValues(a.c[col], b.c[col]);
    });
    S.sortedKey = key;
    return S.sorted;
  }
  function baseFilter() {
    let out = sortedRows();
    if (S.whereIds) out = out.filter(r => S.whereIds.has(r.id));
    if (S.statusSel.size) out = out.filter(r => S.statusSel.has(String(r.status)));
    if (S.search) {
      const terms = S.search.toLowerCase().split(/\s+/).filter(Boolean);
      out = out.filter(r => { const t = searchText(r); return terms.every(x => t.includes(x)); });
    }
    return out;
  }
  function recompute() {
    const t0 = performance.now();
    S.filtered = baseFilter();
    const out = S.brushed ? S.filtered.filter(r => S.brushed.has(r.id)) : S.filtered;
    S.visible = out;
    $("count").textContent = out.length + " of " + S.rows.length;
    renderBody(true);
    T.timings.recompute = performance.now() - t0;
    if (S.view === "parallel") drawParallel();
    updateSelectionInfo();
  }

  // ---------------------------------------------------------------- table
  function widthClass(c) { return c.header === "name" || c.header === "error" || c.header === "set" ? " wide" : ""; }
  function buildHeader() {
    const head = clear($("ghead"));
    const all = el("input", { type: "checkbox", title: "select all shown" });
    all.addEventListener("change", () => { for (const r of S.visible) all.checked ? S.selected.add(r.id) : S.selected.delete(r.id); renderBody(false); updateSelectionInfo(); });
    head.appendChild(el("div", { cls: "hcell chk" }, [all]));
    S.columns.forEach((c, i) => {
      const h = el("div", { cls: "hcell" + widthClass(c), text: c.header, title: c.header + " (" + c.kind + ")", "data-key": c.header });
      if (S.sort.col === i) h.setAttribute("aria-sort", S.sort.desc ? "descending" : "ascending");
      h.addEventListener("click", () => {
        S.sort = { col: i, desc: S.sort.col === i ? !S.sort.desc : false };
        buildHeader(); recompute();
      });
      head.appendChild(h);
    });
    const width = 28 + S.columns.reduce((a, c) => a + (widthClass(c) ? 260 : 120), 0);
    $("spacer").style.width = width + "px"; $("gbody").style.width = width + "px";
  }
  function renderRow(r) {
    const row = el("div", { cls: "grow" + (S.selected.has(r.id) ? " sel" : ""), "data-id": r.id, "data-exp": r.name });
    const box = el("input", { type: "checkbox", checked: S.selected.has(r.id) });
    box.addEventListener("change", () => { box.checked ? S.selected.add(r.id) : S.selected.delete(r.id); row.classList.toggle("sel", box.checked); updateSelectionInfo(); });
    row.appendChild(el("div", { cls: "cell chk" }, [box]));
    S.columns.forEach((c, i) => {
      const v = r.c[i];
      const cell = el("div", { cls: "cell" + widthClass(c) + (typeof v === "number" ? " num" : ""), "data-key": c.header });
      if (c.header === "name") cell.appendChild(expLink(r.id, text(v)));
      else if (c.header === "status") cell.appendChild(statusBadge(v));
      else cell.textContent = text(v);
      cell.title = text(v);
      row.appendChild(cell);
    });
    return row;
  }
  function renderBody(resetScroll) {
    const sc = $("scroller");
    if (resetScroll && sc.scrollTop > S.visible.length * ROW_H) sc.scrollTop = 0;
    $("spacer").style.height = Math.max(S.visible.length * ROW_H, 1) + "px";
    const first = Math.max(0, Math.floor(sc.scrollTop / ROW_H) - 5);
    const count = Math.ceil((sc.clientHeight || 600) / ROW_H) + 10;
    const body = clear($("gbody"));
    body.style.transform = "translateY(" + first * ROW_H + "px)";
    const frag = document.createDocumentFragment();
    for (const r of S.visible.slice(first, first + count)) frag.appendChild(renderRow(r));
    body.appendChild(frag);
  }
  function renderStatuses() {
    const seen = [...new Set(S.rows.map(r => String(r.status)))].sort();
    if (JSON.stringify(seen) === JSON.stringify(S.statuses)) return;
    S.statuses = seen;
    const box = clear($("statuses"));
    for (const s of seen) {
      const cb = el("input", { type: "checkbox", value: s, checked: S.statusSel.has(s) });
      cb.addEventListener("change", () => { cb.checked ? S.statusSel.add(s) : S.statusSel.delete(s); recompute(); });
      box.appendChild(el("label", {}, [cb, document.createTextNode(" " + s)]));
    }
  }
  async function refreshWhere() {
    const body = await api("filter", S.where.map(w => ["w", w]));
    S.whereIds = new Set(body.ids);
  }
  function renderChips() {
    const box = clear($("chips"));
    S.where.forEach((w, i) => {
      const x = el("button", { type: "button", text: "\u00d7", title: "remove" });
      x.addEventListener("click", async () => {
        S.where.splice(i, 1); renderChips();
        if (S.where.length) await refreshWhere(); else S.whereIds = null;
        recompute();
      });
      box.appendChild(el("span", { cls: "chip", text: "-w " + w }, [x]));
    });
  }
  async function applyWhere(list) {
    const before = S.where;
    S.where = list;
    try {
      if (list.length) await refreshWhere(); else S.whereIds = null;
      showError("");
    } catch (e) {
      S.where = before; showError(e.message);
    }
    renderChips(); recompute();
  }
  function updateSelectionInfo() {
    const n = S.selected.size;
    $("selinfo").textContent = n ? n + " selected" : "";
    const ids = selectionOrVisible(500);
    $("reportlink").href = "api/report?" + new URLSearchParams(ids.map(i => ["id", i])).toString();
    const chip = $("brushchip");
    chip.hidden = !S.brushed;
    if (S.brushed) $("brushtext").textContent = "parallel-coordinates brush: " + S.brushed.size + " rows";
  }
  function selectionOrVisible(limit) {
    const sel = S.rows.filter(r => S.selected.has(r.id)).map(r => r.id);
    return (sel.length ? sel : S.visible.map(r => r.id)).slice(0, limit);
  }

  // ---------------------------------------------------------------- sets
  async function showSets() {
    const sets = await api("sets");
    const body = clear($("sets").tBodies[0]);
    for (const s of sets) {
      const counts = Object.entries(s.counts).map(([k, v]) => k + " " + v).join(", ");
      body.appendChild(el("tr", { "data-set": s.root }, [
        el("td", { text: s.root }), el("td", { text: s.purpose }), el("td", { text: String(s.count) }),
        el("td", { text: counts }), el("td", { text: s.last || "" }), el("td", { text: s.notes.join("\n") }),
      ]));
    }
  }

  // ---------------------------------------------------------------- curves
  function smooth(pts, w) {
    if (!w) return pts;
    let acc = 0, norm = 0;
    return pts.map(p => { acc = acc * w + (1 - w) * p[1]; norm = norm * w + (1 - w); return [p[0], acc / norm]; });
  }
  function paramValues(row, headers) { return headers.map(h => text(row.c[colIndex(h)])); }
  function groupSeries(series, rows, headers) {
    const groups = new Map();
    series.forEach((s, i) => {
      const label = headers.map((h, j) => h + "=" + paramValues(rows[i], headers)[j]).join(", ");
      if (!groups.has(label)) groups.set(label, []);
      groups.get(label).push(s);
    });
    let k = 0;
    return [...groups].map(([label, members]) => {
      const byX = new Map();
      for (const m of members) for (const p of m.pts) { if (!byX.has(p[0])) byX.set(p[0], []); byX.get(p[0]).push(p[1]); }
      const xs = [...byX.keys()].sort((a, b) => a - b);
      const mean = xs.map(x => { const v = byX.get(x); return v.reduce((a, b) => a + b, 0) / v.length; });
      const std = xs.map((x, i) => { const v = byX.get(x); return Math.sqrt(v.reduce((a, b) => a + (b - mean[i]) ** 2, 0) / v.length); });
      const colour = C.colour(k++);
      return { label: label + " (n=" + members.length + ")", colour: colour, pts: xs.map((x, i) => [x, mean[i]]), lo: mean.map((m, i) => m - std[i]), hi: mean.map((m, i) => m + std[i]), bold: true };
    });
  }
  // The server sends float64 arrays: "FXH1", uint32 header length, JSON header, data.
  async function curveData(ids, key) {
    const q = new URLSearchParams(idsParams(ids, [["key", key]]));
    const resp = await fetch("api/history?" + q.toString(), { credentials: "same-origin" });
    if (!resp.ok) throw new Error((await resp.json()).error || resp.statusText);
    const buf = await resp.arrayBuffer(), view = new DataView(buf), size = view.getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, size)));
    const found = new Map();
    let at = 8 + size;
    for (const [id, , n] of header.series) {
      const all = new Float64Array(buf, at, 3 * n);
      found.set(id, { x: all.subarray(0, n), t: all.subarray(n, 2 * n), y: all.subarray(2 * n) });
      at += 24 * n;
    }
    const none = { x: [], t: [], y: [] };
    return ids.map(id => found.get(id) || none);
  }
  function toSeries(ids, data, opts) {
    let t0 = Infinity;
    for (const d of data) if (d.t.length && d.t[0] < t0) t0 = d.t[0];
    return ids.map((id, i) => {
      const d = data[i], xs = opts.x === "time" ? d.t : d.x, pts = new Array(d.y.length);
      for (let k = 0; k < d.y.length; k++) pts[k] = [opts.x === "time" ? xs[k] - t0 : xs[k], d.y[k]];
      return { id: id, label: S.byId.has(id) ? S.byId.get(id).name : id, colour: C.colour(i), pts: smooth(pts, opts.smooth) };
    });
  }
  function legend(node, series) {
    const ul = clear(node);
    for (const s of series.slice(0, 300)) ul.appendChild(el("li", { "data-exp": s.label }, [swatch(s.colour), document.createTextNode(s.label)]));
  }
  async function fillKeys(select, ids) {
    const keys = await api("keys", idsParams(ids));
    const keep = select.value;
    clear(select);
    for (const k of keys) select.appendChild(el("option", { value: k, text: k }));
    if (keys.includes(keep)) select.value = keep;
    return keys;
  }
  async function showCurves() {
    const t0 = performance.now();
    const ids = selectionOrVisible(MAX_CURVES);
    const groupSel = $("cgroup");
    if (!groupSel.options.length) for (const c of S.columns.filter(c => c.kind === "param")) groupSel.appendChild(el("option", { value: c.header, text: c.header }));
    const keys = await fillKeys($("ckey"), ids);
    if (!keys.length) { $("cinfo").textContent = "no messages logged yet"; C.curves($("curves"), [], {}); return; }
    const opts = { x: $("cx").value, smooth: +$("csmooth").value };
    const data = await curveData(ids, $("ckey").value);
    let series = toSeries(ids, data, opts);
    const groupBy = [...groupSel.selectedOptions].map(o => o.value);
    if (groupBy.length) series = groupSeries(series, ids.map(i => S.byId.get(i)), groupBy);
    C.curves($("curves"), series, { logx: $("clogx").checked, logy: $("clogy").checked, xlabel: opts.x === "time" ? "seconds since the first point" : "step" });
    legend($("clegend"), series);
    $("cinfo").textContent = series.length + " curves of " + $("ckey").value + (ids.length >= MAX_CURVES ? " (first " + MAX_CURVES + ")" : "");
    T.timings.curves = performance.now() - t0;
    document.documentElement.dataset.curves = String(series.length);
  }

  // ---------------------------------------------------------------- compare
  async function showCompare() {
    const ids = S.rows.filter(r => S.selected.has(r.id)).map(r => r.id);
    const table = clear($("cmp"));
    $("cmpcount").textContent = "(" + ids.length + " runs)";
    if (ids.length < 2) { table.appendChild(el("tr", {}, [el("td", { text: "select 2 or more runs in the Experiments table to compare them" })])); return; }
    const exps = await Promise.all(ids.map(id => api("experiment", [["id", id]])));
    table.appendChild(el("tr", {}, [el("th", { text: "" })].concat(exps.map(e => el("th", {}, [expLink(e.id, e.name)])))));
    const section = (title) => table.appendChild(el("tr", {}, [el("th", { text: title, colSpan: exps.length + 1 })]));
    const row = (label, values, always) => {
      const texts = values.map(text);
      const differs = new Set(texts).size > 1;
      if (!differs && !always) return;
      table.appendChild(el("tr", { "data-key": label }, [el("th", { text: label })].concat(texts.map(t => el("td", { text: t, cls: differs ? "diff" : "" })))));
    };
    const params = [...new Set(exps.flatMap(e => e.params.map(p => p[0])))];
    const maps = exps.map(e => new Map(e.params.map(p => [p[0], p[1]])));
    section("parameters that differ");
    for (const k of params) row(k, maps.map(m => m.has(k) ? m.get(k) : null), false);
    section("final messages");
    for (const k of [...new Set(exps.flatMap(e => Object.keys(e.messages)))]) row(k, exps.map(e => e.messages[k]), true);
    section("run");
    row("status", exps.map(e => e.status), true);
    row("git commit", exps.map(e => e.git ? text(e.git.commit).slice(0, 10) + (e.git.dirty ? " (dirty)" : "") : null), true);
    row("notes", exps.map(e => e.notes.join("\n")), true);
    const keys = await fillKeys($("cmpkey"), ids);
    if (keys.length) {
      const series = toSeries(ids, await curveData(ids, $("cmpkey").value), { x: "step", smooth: 0 });
      C.curves($("cmpcurves"), series, { xlabel: "step" });
      legend($("cmplegend"), series);
    }
  }

  // ---------------------------------------------------------------- parallel coordinates
  function axisOf(header, rows) {
    const i = colIndex(header), vals = rows.map(r => r.c[i]);
    const present = vals.filter(v => v !== null && v !== undefined);
    const numeric = present.length && present.every(v => typeof v === "number");
    if (numeric) {
      let lo = Math.min(...present), hi = Math.max(...present);
      const log = lo > 0 && hi / lo >= 100;
      const f = (v) => log ? Math.log10(v) : v;
      const a = f(lo), b = f(hi);
      return { name: header, u: vals.map(v => typeof v === "number" ? (b > a ? (f(v) - a) / (b - a) : 0.5) : null), loText: C.fmt(lo), hiText: C.fmt(hi) + (log ? " (log)" : "") };
    }
    const cats = [...new Set(present.map(text))].sort();
    const pos = new Map(cats.map((c, k) => [c, cats.length > 1 ? k / (cats.length - 1) : 0.5]));
    return { name: header, u: vals.map(v => v === null || v === undefined ? null : pos.get(text(v))), loText: cats[0] || "", hiText: cats[cats.length - 1] || "" };
  }
  function messageHeaders() { return S.columns.filter(c => c.kind === "message").map(c => c.header); }
  function fillSelect(select, values) {
    const keep = select.value;
    if ([...select.options].map(o => o.value).join("\n") === values.join("\n")) return;
    clear(select);
    for (const v of values) select.appendChild(el("option", { value: v, text: v }));
    if (values.includes(keep)) select.value = keep;
  }
  function parallelAxes() {
    const rows = S.filtered;
    const headers = S.columns.filter(c => c.kind === "param").map(c => c.header);
    if ($("pobj").value) headers.push($("pobj").value);
    return { rows: rows, axes: headers.map(h => axisOf(h, rows)) };
  }
  function drawParallel(drag) {
    fillSelect($("pobj"), messageHeaders());
    const pa = parallelAxes(), objAxis = pa.axes[pa.axes.length - 1];
    const lines = pa.rows.map((r, k) => {
      const inside = Object.entries(S.brushes).every(([name, b]) => {
        const ax = pa.axes.find(a => a.name === name);
        if (!ax) return true;
        const u = ax.u[k];
        return u !== null && u >= b[0] && u <= b[1];
      });
      const t = objAxis && objAxis.u[k] !== null ? objAxis.u[k] : 0.5;
      return { id: r.id, u: pa.axes.map(a => a.u[k]), in: inside, sel: S.selected.has(r.id), colour: "hsl(" + Math.round(220 - 220 * t) + ",70%,45%)" };
    });
    S.pcLayout = C.parallel($("pc"), pa.axes, lines, S.brushes, { drag: drag });
    S.pcAxes = pa.axes;
    const inside = lines.filter(l => l.in).length;
    $("pinfo").textContent = inside + " of " + lines.length + " within the brushes";
    $("pc").dataset.inside = String(inside);
    drawGroups(); drawPareto();
  }
  function setBrushed() {
    if (!Object.keys(S.brushes).length) { S.brushed = null; return; }
    const pa = parallelAxes(), ids = new Set();
    pa.rows.forEach((r, k) => {
      if (Object.entries(S.brushes).every(([name, b]) => { const ax = pa.axes.find(a => a.name === name); const u = ax ? ax.u[k] : 0; return !ax || (u !== null && u >= b[0] && u <= b[1]); })) ids.add(r.id);
    });
    S.brushed = ids;
  }
  function brushEvents() {
    const cv = $("pc");
    let drag = null;
    const pos = (ev) => { const b = cv.getBoundingClientRect(); return [ev.clientX - b.left, ev.clientY - b.top]; };
    cv.addEventListener("mousedown", (ev) => {
      if (!S.pcLayout) return;
      const [x, y] = pos(ev), i = S.pcLayout.xs.findIndex(ax => Math.abs(ax - x) < 14);
      if (i >= 0) drag = { axis: i, y0: y, y1: y };
    });
    cv.addEventListener("mousemove", (ev) => { if (drag) { drag.y1 = pos(ev)[1]; drawParallel(drag); } });
    window.addEventListener("mouseup", () => {
      if (!drag) return;
      const L = S.pcLayout, name = S.pcAxes[drag.axis].name;
      const u = (y) => Math.min(1, Math.max(0, (L.bottom - y) / (L.bottom - L.top)));
      if (Math.abs(drag.y1 - drag.y0) < 3) delete S.brushes[name];
      else S.brushes[name] = [Math.min(u(drag.y0), u(drag.y1)) - 0.01, Math.max(u(drag.y0), u(drag.y1)) + 0.01];  // a pixel's slack at the ends
      drag = null;
      setBrushed(); recompute();
    });
  }
  function stats(values) {
    const v = values.filter(x => typeof x === "number");
    if (!v.length) return "";
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
    return C.fmt(m) + " \u00b1 " + C.fmt(sd);
  }
  function drawGroups() {
    const params = S.columns.filter(c => c.kind === "param").map(c => c.header);
    fillSelect($("pgroup"), params);
    const by = [...$("pgroup").selectedOptions].map(o => o.value), obj = $("pobj").value;
    const table = clear($("groups"));
    const rows = S.brushed ? S.filtered.filter(r => S.brushed.has(r.id)) : S.filtered;
    if (!by.length || !obj) { table.appendChild(el("tr", {}, [el("td", { text: "choose parameters to group by (the rest, e.g. seeds and repeats, are averaged)" })])); return; }
    const groups = new Map();
    for (const r of rows) { const key = JSON.stringify(paramValues(r, by)); if (!groups.has(key)) groups.set(key, []); groups.get(key).push(r); }
    table.appendChild(el("tr", {}, by.map(h => el("th", { text: h })).concat([el("th", { text: "n" }), el("th", { text: obj + " mean \u00b1 std" })])));
    const oi = colIndex(obj);
    for (const [key, members] of groups) table.appendChild(el("tr", { "data-group": key }, JSON.parse(key).map(v => el("td", { text: v })).concat([el("td", { text: String(members.length) }), el("td", { text: stats(members.map(r => r.c[oi])) })])));
  }
  function drawPareto() {
    const msgs = messageHeaders();
    fillSelect($("px"), msgs); fillSelect($("py"), msgs);
    if (msgs.length > 1 && $("px").value === $("py").value) $("py").value = msgs[1];
    const xi = colIndex($("px").value), yi = colIndex($("py").value);
    const sx = $("pxdir").value === "max" ? -1 : 1, sy = $("pydir").value === "max" ? -1 : 1;
    const rows = S.brushed ? S.filtered.filter(r => S.brushed.has(r.id)) : S.filtered;
    const pts = xi < 0 || yi < 0 ? [] : rows.filter(r => typeof r.c[xi] === "number" && typeof r.c[yi] === "number").map(r => ({ x: r.c[xi], y: r.c[yi], r: r }));
    const front = [];
    let best = Infinity;
    for (const p of pts.slice().sort((a, b) => sx * (a.x - b.x) || sy * (a.y - b.y))) if (sy * p.y < best) { best = sy * p.y; front.push(p); }
    C.scatter($("pareto"), pts, front, { xlabel: $("px").value + " (" + $("pxdir").value + ")", ylabel: $("py").value + " (" + $("pydir").value + ")" });
    $("paretoinfo").textContent = front.length + " on the front of " + pts.length;
    const ul = clear($("paretolist"));
    for (const p of front.slice(0, 50)) ul.appendChild(el("li", {}, [expLink(p.r.id, p.r.name), document.createTextNode(" " + C.fmt(p.x) + ", " + C.fmt(p.y))]));
  }

  // ---------------------------------------------------------------- experiment page
  let tailTimer = null;
  function table2(node, header, rows) {
    clear(node);
    node.appendChild(el("tr", {}, header.map(h => el("th", { text: h }))));
    for (const r of rows) node.appendChild(el("tr", {}, r.map(v => el("td", { text: text(v) }))));
  }
  async function showExperiment(id) {
    const e = await api("experiment", [["id", id]]);
    S.expId = id;
    $("exp-name").textContent = e.name;
    $("exp-meta").textContent = [e.set, "status " + e.status, e.error ? "error: " + e.error : "", e.requeues ? "requeued " + e.requeues + "\u00d7" : "", e.slurm ? "slurm " + text(e.slurm) : "", e.git ? "git " + text(e.git.commit).slice(0, 10) : ""].filter(Boolean).join(" \u00b7 ");
    table2($("exp-params"), ["parameter", "value", "help"], e.params);
    table2($("exp-messages"), ["message", "value"], Object.entries(e.messages));
    const keys = [...new Set(e.attempts.flatMap(a => typeof a === "object" && a ? Object.keys(a) : []))];
    const times = Object.entries(e.times).filter(([, v]) => v).map(([k, v]) => [k, v]);
    table2($("exp-timeline"), keys.length ? keys : ["event", "time"], keys.length ? e.attempts.map(a => keys.map(k => a[k])) : times);
    const ck = clear($("exp-ckpt"));
    for (const c of e.files.checkpoints) ck.appendChild(el("li", { text: c.name + " (" + c.size + " bytes)" }));
    if (!e.files.checkpoints.length) ck.appendChild(el("li", { text: "none" }));
    renderNotes(e.notes);
    await Promise.all([tail(e, "out.txt", $("exp-out")), tail(e, "error.txt", $("exp-err")), expCurves(id)]);
  }
  function renderNotes(notes) {
    const ul = clear($("exp-notes"));
    for (const n of notes) ul.appendChild(el("li", { text: n }));
  }
  async function tail(e, file, node) {
    if (e.files[file] === null) { node.textContent = "(no " + file + ")"; return; }
    const setIndex = e.id.split(":")[0];
    node.textContent = await api("file", [["set", setIndex], ["path", e.name + "/" + file]]);
  }
  async function expCurves(id) {
    const keys = await fillKeys($("exp-key"), [id]);
    if (!keys.length) { C.curves($("exp-curves"), [], {}); return; }
    C.curves($("exp-curves"), toSeries([id], await curveData([id], $("exp-key").value), { x: "step", smooth: 0 }), { xlabel: "step" });
  }
  async function addNote() {
    const t = $("note-text").value.trim();
    if (!t || !S.expId) return;
    try {
      const e = await api("note", null, { method: "POST", headers: { "content-type": "application/json", "x-fexp-request": "1" }, body: JSON.stringify({ id: S.expId, text: t }) });
      renderNotes(e.notes); $("note-text").value = ""; showError("");
    } catch (err) { showError(err.message); }
  }

  // ---------------------------------------------------------------- views and live updates
  const VIEWS = ["sets", "table", "curves", "compare", "parallel", "exp"];
  async function route() {
    const h = decodeURIComponent(location.hash.slice(1) || "table");
    const view = h.startsWith("exp/") ? "exp" : (VIEWS.includes(h) ? h : "table");
    S.view = view;
    for (const v of VIEWS) $("view-" + v).hidden = v !== view;
    for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("on", a.dataset.view === view);
    clearInterval(tailTimer);
    try {
      if (view === "sets") await showSets();
      else if (view === "table") renderBody(false);
      else if (view === "curves") await showCurves();
      else if (view === "compare") await showCompare();
      else if (view === "parallel") drawParallel();
      else if (view === "exp") {
        const id = h.slice(4);
        await showExperiment(id);
        tailTimer = setInterval(() => { if (S.view === "exp") showExperimentTail(id); }, 1000);
      }
      document.documentElement.dataset.view = view;
    } catch (e) { showError(e.message); }
  }
  async function showExperimentTail(id) {
    try { const e = await api("experiment", [["id", id]]); await tail(e, "out.txt", $("exp-out")); } catch (e) { /* the next tick retries */ }
  }
  let liveTimer = null;
  function onLive(touched) {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(() => {
      if (S.view === "curves" && selectionOrVisible(MAX_CURVES).some(i => touched.has(i))) showCurves().catch(e => showError(e.message));
      if (S.view === "exp" && touched.has(S.expId)) showExperiment(S.expId).catch(e => showError(e.message));
      if (S.view === "sets") showSets().catch(e => showError(e.message));
      if (S.view === "compare" && [...S.selected].some(i => touched.has(i))) showCompare().catch(e => showError(e.message));
    }, 150);
  }
  function connect() {
    const es = new EventSource("api/events?since=" + S.version);
    es.addEventListener("open", () => { $("live").textContent = "\u25cf live"; $("live").classList.add("ok"); });
    es.addEventListener("rows", (ev) => { applyDelta(JSON.parse(ev.data)); document.documentElement.dataset.version = String(S.version); });
    es.addEventListener("error", () => { $("live").textContent = "\u25cf reconnecting"; $("live").classList.remove("ok"); });
  }
  function wire() {
    window.addEventListener("hashchange", route);
    $("scroller").addEventListener("scroll", () => { $("ghead").scrollLeft = $("scroller").scrollLeft; renderBody(false); });
    $("search").addEventListener("input", () => { S.search = $("search").value.trim(); recompute(); });
    $("where").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" || !$("where").value.trim()) return;
      const cond = $("where").value.trim();
      applyWhere(S.where.concat([cond])).then(() => { if (S.where.includes(cond)) $("where").value = ""; });
    });
    $("selclear").addEventListener("click", () => { S.selected.clear(); renderBody(false); updateSelectionInfo(); });
    $("cmpbtn").addEventListener("click", () => { location.hash = "#compare"; });
    $("curvesbtn").addEventListener("click", () => { location.hash = "#curves"; });
    $("tbbtn").addEventListener("click", async () => { try { $("tbcmd").textContent = (await api("tensorboard", idsParams(selectionOrVisible(500)))).commands.join("\n"); } catch (e) { showError(e.message); } });
    $("brushclear").addEventListener("click", () => { S.brushes = {}; S.brushed = null; recompute(); });
    $("pclear").addEventListener("click", () => { S.brushes = {}; S.brushed = null; recompute(); drawParallel(); });
    for (const id of ["ckey", "cx", "clogy", "clogx", "csmooth", "cgroup"]) $(id).addEventListener("change", () => showCurves().catch(e => showError(e.message)));
    $("cmpkey").addEventListener("change", () => showCompare().catch(e => showError(e.message)));
    for (const id of ["pobj", "pgroup", "px", "py", "pxdir", "pydir"]) $(id).addEventListener("change", () => { setBrushed(); drawParallel(); });
    $("exp-key").addEventListener("change", () => expCurves(S.expId).catch(e => showError(e.message)));
    $("note-add").addEventListener("click", addNote);
    $("note-text").addEventListener("keydown", (ev) => { if (ev.key === "Enter") addNote(); });
    $("curves").addEventListener("mousemove", (ev) => {
      const b = $("curves").getBoundingClientRect(), hit = C.nearest($("curves"), ev.clientX - b.left, ev.clientY - b.top);
      $("chover").textContent = hit ? hit.series.label + " \u2014 x=" + C.fmt(hit.point[0]) + ", y=" + C.fmt(hit.point[1]) : "";
    });
    brushEvents();
  }
  async function start() {
    if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", location.pathname + location.hash);
    wire();
    try { await loadRows(); } catch (e) { showError(e.message); }
    T.timings.firstRender = performance.now();
    connect();
    await route();
    document.documentElement.dataset.ready = "1";
  }
  window.fexpUi = { state: S, timings: T.timings, applyWhere: applyWhere, recompute: recompute, showCurves: showCurves, loadRows: loadRows,
    sortBy: (header, desc) => { S.sort = { col: colIndex(header), desc: !!desc }; buildHeader(); recompute(); } };
  start();
})();

// fexp ui charts: hand-written canvas line plots, parallel coordinates and a scatter.
// No dependencies, nothing fetched; text is drawn with fillText, never parsed as HTML.
"use strict";
(function () {
  const PAD = { l: 60, r: 14, t: 14, b: 30 };

  function colour(i) { return "hsl(" + Math.round((i * 137.508) % 360) + ",65%,42%)"; }

  function fit(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    return { ctx: ctx, w: w, h: h };
  }

  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
    return String(+v.toPrecision(4));
  }

  function scale(lo, hi, log, a, b) {
    if (log) { lo = Math.log10(lo); hi = Math.log10(hi); }
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    const f = (v) => a + ((log ? Math.log10(v) : v) - lo) / (hi - lo) * (b - a);
    f.lo = lo; f.hi = hi; f.log = log;
    return f;
  }

  function axisTicks(sc) {
    if (!sc.log) return ticks(sc.lo, sc.hi, 5);
    const out = [];
    for (let e = Math.floor(sc.lo); e <= Math.ceil(sc.hi); e++) if (e >= sc.lo - 1e-9 && e <= sc.hi + 1e-9) out.push(Math.pow(10, e));
    return out.length >= 2 ? out : ticks(Math.pow(10, sc.lo), Math.pow(10, sc.hi), 4);
  }

  function frame(ctx, w, h, sx, sy, xlabel, xfmt) {
    ctx.strokeStyle = "#d9dde3"; ctx.fillStyle = "#6b7280"; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of axisTicks(sy)) {
      const y = sy(t); ctx.beginPath(); ctx.moveTo(PAD.l, y); ctx.lineTo(w - PAD.r, y); ctx.stroke();
      ctx.fillText(fmt(t), PAD.l - 4, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of axisTicks(sx)) {
      const x = sx(t); ctx.beginPath(); ctx.moveTo(x, PAD.t); ctx.lineTo(x, h - PAD.b); ctx.stroke();
      ctx.fillText(xfmt ? xfmt(t) : fmt(t), x, h - PAD.b + 4);
    }
    ctx.textAlign = "right"; ctx.fillText(xlabel || "", w - PAD.r, h - 12);
  }

  // series: [{label, colour, pts: [[x, y], ...], lo?: [..], hi?: [..]}] (lo/hi: a band).
  function curves(canvas, series, opts) {
    opts = opts || {};
    const g = fit(canvas), ctx = g.ctx;
    const ok = (x, y) => isFinite(x) && isFinite(y) && (!opts.logx || x > 0) && (!opts.logy || y > 0);
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of series) {
      for (let i = 0; i < s.pts.length; i++) {
        const p = s.pts[i];
        if (!ok(p[0], p[1])) continue;
        if (p[0] < x0) x0 = p[0]; if (p[0] > x1) x1 = p[0];
        const lo = s.lo ? s.lo[i] : p[1], hi = s.hi ? s.hi[i] : p[1];
        if (lo < y0 && ok(p[0], lo)) y0 = lo; if (hi > y1) y1 = hi; if (p[1] < y0) y0 = p[1];
      }
    }
    const state = { series: series, sx: null, sy: null };
    canvas.fexpPlot = state;
    if (x0 === Infinity) { ctx.fillStyle = "#6b7280"; ctx.fillText("no numeric values to plot", PAD.l + 10, PAD.t + 20); return state; }
    const sx = scale(x0, x1, !!opts.logx, PAD.l, g.w - PAD.r), sy = scale(y0, y1, !!opts.logy, g.h - PAD.b, PAD.t);
    state.sx = sx; state.sy = sy;
    frame(ctx, g.w, g.h, sx, sy, opts.xlabel, opts.xfmt);
    for (const s of series) {
      if (s.lo && s.hi) {
        ctx.globalAlpha = 0.18; ctx.fillStyle = s.colour; ctx.beginPath();
        let started = false;
        for (let i = 0; i < s.pts.length; i++) if (ok(s.pts[i][0], s.hi[i])) { const x = sx(s.pts[i][0]), y = sy(s.hi[i]); started ? ctx.lineTo(x, y) : ctx.moveTo(x, y); started = true; }
        for (let i = s.pts.length - 1; i >= 0; i--) if (ok(s.pts[i][0], s.lo[i])) ctx.lineTo(sx(s.pts[i][0]), sy(s.lo[i]));
        ctx.fill(); ctx.globalAlpha = 1;
      }
      ctx.strokeStyle = s.colour; ctx.lineWidth = s.bold ? 2.5 : 1.3; ctx.globalAlpha = s.dim ? 0.15 : 1;
      ctx.beginPath();
      let pen = false;
      for (const p of s.pts) {
        if (!ok(p[0], p[1])) { pen = false; continue; }
        const x = sx(p[0]), y = sy(p[1]);
        pen ? ctx.lineTo(x, y) : ctx.moveTo(x, y); pen = true;
      }
      ctx.stroke(); ctx.globalAlpha = 1;
    }
    return state;
  }

  // The series (and point) nearest to a mouse position, in canvas pixels.
  function nearest(canvas, mx, my) {
    const st = canvas.fexpPlot;
    if (!st || !st.sx) return null;
    let best = null, bd = 400;
    for (const s of st.series) {
      for (const p of s.pts) {
        if (!isFinite(p[0]) || !isFinite(p[1])) continue;
        const dx = st.sx(p[0]) - mx, dy = st.sy(p[1]) - my, d = dx * dx + dy * dy;
        if (d < bd) { bd = d; best = { series: s, point: p }; }
      }
    }
    return best;
  }

  // axes: [{name, values (per line; null = missing), cats?: [labels]}]; brushes: {axis: [lo, hi]} in 0..1.
  function parallel(canvas, axes, lines, brushes, opts) {
    const g = fit(canvas), ctx = g.ctx, n = axes.length;
    const top = PAD.t + 30, bottom = g.h - PAD.b, left = PAD.l, right = g.w - PAD.r - 40;
    const xs = axes.map((_, i) => n > 1 ? left + i * (right - left) / (n - 1) : left);
    canvas.dataset.axisx = JSON.stringify(xs.map(Math.round));
    canvas.dataset.top = String(top); canvas.dataset.bottom = String(bottom);
    const ypos = (u) => bottom - u * (bottom - top);
    for (const line of lines) {
      ctx.strokeStyle = line.in ? line.colour : "rgba(160,160,160,0.12)";
      ctx.lineWidth = line.sel ? 2.5 : 1; ctx.beginPath();
      let pen = false;
      for (let i = 0; i < n; i++) {
        const u = line.u[i];
        if (u === null || u === undefined) { pen = false; continue; }
        pen ? ctx.lineTo(xs[i], ypos(u)) : ctx.moveTo(xs[i], ypos(u)); pen = true;
      }
      ctx.stroke();
    }
    ctx.fillStyle = "#1d2430"; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    for (let i = 0; i < n; i++) {
      ctx.strokeStyle = "#374151"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(xs[i], top); ctx.lineTo(xs[i], bottom); ctx.stroke();
      ctx.fillStyle = "#1d2430"; ctx.fillText(axes[i].name.slice(0, 24), xs[i], top - 16);
      ctx.fillStyle = "#6b7280";
      ctx.textBaseline = "top"; ctx.fillText(axes[i].loText || "", xs[i], bottom + 3);
      ctx.textBaseline = "bottom"; ctx.fillText(axes[i].hiText || "", xs[i], top - 3);
      const b = brushes[axes[i].name];
      if (b) { ctx.fillStyle = "rgba(28,100,242,0.25)"; ctx.fillRect(xs[i] - 7, ypos(b[1]), 14, ypos(b[0]) - ypos(b[1])); }
    }
    if (opts && opts.drag) { ctx.fillStyle = "rgba(28,100,242,0.2)"; const d = opts.drag; ctx.fillRect(xs[d.axis] - 7, Math.min(d.y0, d.y1), 14, Math.abs(d.y1 - d.y0)); }
    return { xs: xs, top: top, bottom: bottom };
  }

  function scatter(canvas, pts, front, opts) {
    const g = fit(canvas), ctx = g.ctx;
    if (!pts.length) { ctx.fillStyle = "#6b7280"; ctx.fillText("choose two objectives with values", PAD.l, PAD.t + 20); return; }
    const xs = pts.map(p => p.x), ys = pts.map(p => p.y);
    const sx = scale(Math.min(...xs), Math.max(...xs), false, PAD.l, g.w - PAD.r), sy = scale(Math.min(...ys), Math.max(...ys), false, g.h - PAD.b, PAD.t);
    frame(ctx, g.w, g.h, sx, sy, opts.xlabel);
    ctx.fillStyle = "rgba(100,116,139,0.6)";
    for (const p of pts) { ctx.beginPath(); ctx.arc(sx(p.x), sy(p.y), 3, 0, 7); ctx.fill(); }
    ctx.strokeStyle = "#dc2626"; ctx.fillStyle = "#dc2626"; ctx.lineWidth = 1.5; ctx.beginPath();
    front.forEach((p, i) => { i ? ctx.lineTo(sx(p.x), sy(p.y)) : ctx.moveTo(sx(p.x), sy(p.y)); });
    ctx.stroke();
    for (const p of front) { ctx.beginPath(); ctx.arc(sx(p.x), sy(p.y), 4.5, 0, 7); ctx.fill(); }
    ctx.fillStyle = "#1d2430"; ctx.textAlign = "left"; ctx.textBaseline = "top"; ctx.fillText(opts.ylabel || "", PAD.l + 4, PAD.t);
  }

  window.fexpCharts = { colour: colour, curves: curves, nearest: nearest, parallel: parallel, scatter: scatter, fmt: fmt, PAD: PAD };
})();

// irbis survey dashboard: plain JS + SVG, nothing loaded from outside this server.
"use strict";
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#e65100", "#1565c0", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#9e9d24", "#4e342e"];
const CAT_COLOR = {"1": "#ffeb3b", "2": "#e91e63", "3": "#03a9f4"};
const state = {tab: "overview", page: 0, size: 24, generation: -1, photo: null, labels: []};

function params(extra) {
  const p = new URLSearchParams({conf: $("conf").value});
  if ($("survey").value) p.set("survey", $("survey").value);
  if ($("species").value) p.set("species", $("species").value);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
}
async function api(path, opts) {
  const r = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
  if (r.status === 401) { location.href = "/login"; throw new Error("login needed"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.detail ? JSON.stringify(body.detail) : r.statusText);
  return body;
}
function el(tag, attrs, parent, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

async function loadSelectors() {
  const s = await api("/api/surveys");
  const cur = $("survey").value;
  clear($("survey"));
  el("option", {value: ""}, $("survey"), `all surveys (${s.surveys.length})`);
  for (const v of s.surveys) el("option", {value: v.name}, $("survey"), `${v.name} (${v.photos})`);
  $("survey").value = cur;
  await loadLabels();
}
async function loadLabels() {
  const l = await api("/api/labels?" + params({species: ""}));
  const cur = $("species").value;
  clear($("species"));
  el("option", {value: ""}, $("species"), "any");
  for (const v of l.labels) el("option", {value: v}, $("species"), v);
  $("species").value = l.labels.includes(cur) ? cur : "";
  state.labels = l.known;
}

// ---------- overview ----------
async function loadOverview() {
  const d = await api("/api/summary?" + params({interval: $("interval").value}));
  const t = d.totals, cards = clear($("totals"));
  const items = [["photos", t.photos], ["empty", t.empty], ["animal", t.animal], ["person", t.person],
                 ["vehicle", t.vehicle], ["failures", t.failures]];
  if (d.filter.species) items.push([d.filter.species + " (selected)", t.selected]);
  for (const [k, v] of Object.entries(t.by_label)) if (!["animal", "person", "vehicle"].includes(k)) items.push([k, v]);
  for (const [k, v] of items) {
    const c = el("div", {class: "card", "data-key": k}, cards);
    el("b", {}, c, String(v)); el("span", {}, c, k);
  }
  drawBySurvey(d.by_survey); drawActivity(d.activity); drawOverTime(d.over_time); drawSites(d.sites);
  await drawMap(d.sites.sites);
}
function drawBySurvey(rows) {
  const tab = clear($("by-survey"));
  const labels = [...new Set(rows.map((r) => r.label))];
  const surveys = [...new Set(rows.map((r) => r.survey))];
  const head = el("tr", {}, tab); el("th", {}, head, "survey");
  for (const l of labels) el("th", {}, head, l);
  for (const s of surveys) {
    const tr = el("tr", {"data-survey": s}, tab); el("td", {}, tr, s);
    for (const l of labels) { const r = rows.find((x) => x.survey === s && x.label === l); el("td", {}, tr, r ? r.n : 0); }
  }
}
function axes(svg, w, h, pad, maxv, ticks) {
  el("svg:line", {x1: pad, y1: h - pad, x2: w - 5, y2: h - pad, stroke: "#999"}, svg);
  el("svg:text", {x: 2, y: pad, "font-size": 11}, svg, String(maxv));
  ticks.forEach(([x, label]) => el("svg:text", {x, y: h - pad + 13, "font-size": 10, "text-anchor": "middle"}, svg, label));
}
function drawActivity(act) {
  const svg = clear($("activity")), legend = clear($("activity-legend"));
  const labels = Object.keys(act), W = 600, H = 220, pad = 24;
  const maxv = Math.max(1, ...labels.flatMap((l) => act[l]));
  const bw = (W - pad - 10) / 24 / Math.max(1, labels.length);
  labels.forEach((l, j) => {
    const col = COLORS[j % COLORS.length];
    act[l].forEach((n, h) => {
      const bh = (H - 2 * pad) * n / maxv;
      el("svg:rect", {x: pad + (h * labels.length + j) * bw, y: H - pad - bh, width: Math.max(1, bw - 1), height: bh,
                      fill: col, "data-label": l, "data-hour": h}, svg).appendChild(el("svg:title", {}, null, `${l} ${h}h: ${n}`));
    });
    const s = el("span", {}, legend); el("i", {style: `background:${col}`}, s); s.appendChild(document.createTextNode(l));
  });
  axes(svg, W, H, pad, maxv, [0, 6, 12, 18, 23].map((h) => [pad + (h + 0.5) * bw * Math.max(1, labels.length), h + "h"]));
}
function drawOverTime(rows) {
  const svg = clear($("over-time")), W = 600, H = 200, pad = 24;
  if (!rows.length) { el("svg:text", {x: 20, y: 40}, svg, "no dated detections"); return; }
  const t0 = Date.parse(rows[0].day), t1 = Date.parse(rows[rows.length - 1].day), span = Math.max(1, t1 - t0);
  const maxv = Math.max(1, ...rows.map((r) => r.n)), bw = Math.max(2, (W - pad - 10) / (span / 864e5 + 1) - 1);
  for (const r of rows) {
    const x = pad + (W - pad - 10 - bw) * (Date.parse(r.day) - t0) / span, bh = (H - 2 * pad) * r.n / maxv;
    el("svg:rect", {x, y: H - pad - bh, width: bw, height: bh, fill: "#1565c0"}, svg)
      .appendChild(el("svg:title", {}, null, `${r.day}: ${r.n}`));
  }
  axes(svg, W, H, pad, maxv, [[pad + 30, rows[0].day], [W - 40, rows[rows.length - 1].day]]);
}
function drawSites(s) {
  const tab = clear($("sites"));
  $("occupancy").textContent = s.naive_occupancy === null ? "" :
    `: ${s.occupied} of ${s.sites.length} sites with the selection = ${(100 * s.naive_occupancy).toFixed(0)} %`;
  const head = el("tr", {}, tab);
  for (const h of ["site", "photos", "with selection", "rate", "trap-nights", `events (${s.interval_min} min)`, "RAI"])
    el("th", {}, head, h);
  for (const r of s.sites) {
    const tr = el("tr", {"data-site": r.site}, tab);
    for (const v of [r.site, r.photos, r.hits, (100 * r.rate).toFixed(1) + " %",
                     r.trap_nights === null ? "–" : r.trap_nights.toFixed(1), r.events, r.rai === null ? "–" : r.rai])
      el("td", {}, tr, v);
  }
}
async function drawMap(sites) {
  const svg = clear($("map")), W = 600, H = 400;
  const pts = sites.filter((s) => s.latitude !== null && s.longitude !== null);
  if (!pts.length) { el("svg:text", {x: 20, y: 40}, svg, "no site coordinates (give --deployments)"); return; }
  let x0 = Math.min(...pts.map((s) => s.longitude)), x1 = Math.max(...pts.map((s) => s.longitude));
  let y0 = Math.min(...pts.map((s) => s.latitude)), y1 = Math.max(...pts.map((s) => s.latitude));
  const m = Math.max(0.5, (x1 - x0) * 0.2, (y1 - y0) * 0.2);
  x0 -= m; x1 += m; y0 -= m; y1 += m;
  const k = Math.cos(((y0 + y1) / 2) * Math.PI / 180);
  const scale = Math.min(W / ((x1 - x0) * k), H / (y1 - y0));
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const px = (lon, lat) => [W / 2 + (lon - cx) * k * scale, H / 2 - (lat - cy) * scale];
  const base = await api(`/api/basemap?bbox=${x0 - 2 * m},${y0 - 2 * m},${x1 + 2 * m},${y1 + 2 * m}`);
  const g = el("svg:g", {id: "basemap"}, svg);
  for (const o of base.outlines) {
    el("svg:path", {d: "M" + o.ring.map(([lo, la]) => px(lo, la).map((v) => v.toFixed(1)).join(",")).join("L") + "Z",
                    fill: "#f1efe6", stroke: "#9e9e9e", "stroke-width": 0.7}, g).appendChild(el("svg:title", {}, null, o.name));
  }
  for (const s of pts) {
    const [x, y] = px(s.longitude, s.latitude), r = 4 + 18 * Math.sqrt(s.rate);
    const hue = 60 - 60 * Math.min(1, s.rate * 2);
    el("svg:circle", {cx: x, cy: y, r, fill: `hsl(${hue},90%,45%)`, "fill-opacity": 0.75, stroke: "#333",
                      class: "site", "data-site": s.site}, svg)
      .appendChild(el("svg:title", {}, null, `${s.site}: ${s.hits}/${s.photos} photos (${(100 * s.rate).toFixed(1)} %), RAI ${s.rai}`));
    el("svg:text", {x: x + r + 2, y: y + 4, "font-size": 11}, svg, s.site);
  }
}

// ---------- review ----------
function boxes(svg, dets, conf) {
  clear(svg);
  for (const d of dets) {
    if (d.conf < conf) continue;
    const [x, y, w, h] = d.bbox;
    el("svg:rect", {x, y, width: w, height: h, fill: "none", stroke: CAT_COLOR[d.category] || "#fff",
                    "stroke-width": 2.5, "vector-effect": "non-scaling-stroke", class: "box"}, svg);
  }
}
async function loadReview(order) {
  const extra = {show: order === "uncertain" ? "all" : $("show").value, page: state.page, size: state.size, order};
  const d = await api("/api/photos?" + params(extra));
  $("review-count").textContent = `${d.total} photos`;
  $("pageno").textContent = `page ${d.page + 1} / ${Math.max(1, Math.ceil(d.total / d.size))}`;
  const grid = clear($("grid")), conf = parseFloat($("conf").value);
  for (const p of d.photos) {
    const tile = el("div", {class: "tile", "data-id": p.id}, grid);
    const frame = el("div", {class: "frame"}, tile);
    const img = el("img", {src: `/thumb/${p.id}`, loading: "lazy", alt: p.file}, frame);
    img.onerror = () => { img.alt = p.failure || "unreadable"; };
    const svg = el("svg:svg", {viewBox: "0 0 1 1", preserveAspectRatio: "none"}, frame);
    boxes(svg, p.detections, conf);
    const top = p.detections.filter((x) => x.conf >= conf).map((x) => `${x.label} ${x.conf.toFixed(2)}`).join(", ");
    el("p", {}, tile, `${p.survey}/${p.file}`); el("p", {}, tile, p.failure ? "failed: " + p.failure : top || "empty");
    tile.onclick = () => openPhoto(p.id);
  }
}

// ---------- photo page ----------
async function openPhoto(id) {
  const p = await api(`/api/photo/${id}`);
  state.photo = p;
  $("photo-view").hidden = false; $("tab-" + (state.tab === "next" ? "review" : state.tab)).hidden = true;
  $("photo-title").textContent = `${p.survey} / ${p.file}  ·  ${p.site}  ·  ${p.taken_at || "no time"}`;
  $("photo-img").src = `/thumb/${id}?size=view`;
  boxes($("photo-boxes"), p.detections, parseFloat($("conf").value));
  const burst = clear($("burst"));
  for (const b of p.burst) {
    const im = el("img", {src: `/thumb/${b.id}`, title: b.file, class: b.id === id ? "cur" : ""}, burst);
    im.onclick = () => openPhoto(b.id);
  }
  const lab = clear($("corr-label"));
  for (const l of state.labels) el("option", {value: l}, lab, l);
  const box = clear($("corr-box")); el("option", {value: ""}, box, "(photo)");
  p.detections.forEach((d, i) => el("option", {value: i}, box, `#${i} ${d.label} ${d.conf.toFixed(2)}`));
  showCorrections(p.corrections);
}
function showCorrections(list) {
  const ul = clear($("corr-list"));
  for (const c of list) el("li", {class: "correction"}, ul, `${c.created_at}: ${c.kind}` +
    (c.value ? ` = ${c.value}` : "") + (c.box !== null ? ` (box #${c.box})` : ""));
}
$("correct").onsubmit = async (ev) => {
  ev.preventDefault();
  const kind = $("corr-kind").value, body = {photo_id: state.photo.id, kind};
  if (kind === "species") body.label = $("corr-label").value;
  if ($("corr-box").value !== "") body.box = parseInt($("corr-box").value, 10);
  try {
    await api("/api/corrections", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    const p = await api(`/api/photo/${state.photo.id}`);
    showCorrections(p.corrections); $("corr-status").textContent = "saved";
  } catch (e) { $("corr-status").textContent = "not saved: " + e.message; }
};
$("close-photo").onclick = () => { $("photo-view").hidden = true; show(state.tab); };

// ---------- wiring ----------
function refresh() {
  if (!$("photo-view").hidden) return Promise.resolve();
  if (state.tab === "overview") return loadOverview();
  return loadReview(state.tab === "next" ? "uncertain" : "file");
}
function show(tab) {
  state.tab = tab;
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("on", b.dataset.tab === tab));
  $("tab-overview").hidden = tab !== "overview"; $("tab-review").hidden = tab === "overview";
  $("photo-view").hidden = true;
  return refresh();
}
document.querySelectorAll("nav button").forEach((b) => { b.onclick = () => { state.page = 0; show(b.dataset.tab); }; });
$("survey").onchange = async () => { state.page = 0; await loadLabels(); refresh(); };
$("species").onchange = () => { state.page = 0; refresh(); };
$("conf").oninput = () => { $("conf-value").textContent = parseFloat($("conf").value).toFixed(2); };
$("conf").onchange = () => { state.page = 0; refresh(); };
$("interval").onchange = refresh;
$("show").onchange = () => { state.page = 0; refresh(); };
$("prev").onclick = () => { if (state.page > 0) { state.page--; refresh(); } };
$("next").onclick = () => { state.page++; refresh(); };
async function poll() {
  try {
    const v = await api("/api/version");
    if (v.generation !== state.generation) {
      const first = state.generation === -1;
      state.generation = v.generation;
      if (!first) { await loadSelectors(); await refresh(); }
    }
    $("live").textContent = "live";
  } catch (e) { $("live").textContent = "offline"; }
  setTimeout(poll, 2000);
}
(async () => { await loadSelectors(); await refresh(); document.body.dataset.ready = "1"; poll(); })();

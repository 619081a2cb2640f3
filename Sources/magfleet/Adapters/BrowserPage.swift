/// The face browser `magfleet serve` sends at `/`: one page of plain HTML and a little
/// JavaScript over the JSON API, no network beyond this server, no libraries. Views follow the
/// URL's hash (`#row=N`, `#path=P`, `#identity=L`, `#failures=OFFSET`), so the back button works.
enum BrowserPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>magfleet serve</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #243447; color: #fff; padding: 8px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 16px; margin: 0; }
header a { color: #cde; }
#summary { font-size: 12px; color: #cde; }
main { padding: 12px 16px; }
form { display: flex; gap: 8px; margin-bottom: 12px; align-items: center; flex-wrap: wrap; }
input[type=text] { width: 28em; padding: 4px; }
input[type=number] { width: 5em; padding: 4px; }
#drop { border: 2px dashed #99a; padding: 6px 12px; color: #556; border-radius: 6px; }
#drop.over { background: #e4ecf7; }
#message { color: #a22; margin: 8px 0; min-height: 1em; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.face { width: 132px; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 6px; font-size: 11px; cursor: pointer; }
.face:hover { border-color: #468; }
.face img { width: 120px; height: 120px; object-fit: cover; display: block; background: #eee; }
.face .score { font-weight: bold; font-size: 13px; }
.face .path { word-break: break-all; color: #555; }
.query { border: 2px solid #468; cursor: default; }
.failed { border-color: #c66; }
h2 { font-size: 15px; margin: 12px 0 6px; }
table { border-collapse: collapse; background: #fff; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; font-size: 12px; }
button { padding: 4px 10px; }
</style>
</head>
<body>
<header>
  <h1>magfleet</h1>
  <span id="summary">loading…</span>
  <a href="#failures=0" id="failures-link">failures</a>
</header>
<main>
  <form id="search">
    <input type="text" id="path" placeholder="stored path, or #ROW" aria-label="path">
    <label>top <input type="number" id="top" value="10" min="1" max="1000"></label>
    <label>min norm <input type="number" id="min-norm" step="any"></label>
    <button type="submit" id="go">Search</button>
    <span id="drop" hidden>drop a face image here</span>
  </form>
  <div id="message"></div>
  <div id="view"></div>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const auth = token ? { "Authorization": "Bearer " + token } : {};
const thumb = row => "/thumbs/" + row + (token ? "?token=" + encodeURIComponent(token) : "");
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
let info = null;

async function api(path, body) {
  const init = body === undefined ? { headers: auth } : { method: "POST", headers: { ...auth, "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

function say(text) { $("message").textContent = text || ""; }

function face(n, extra) {
  const label = n.label_name ?? (n.label < 0 ? "-" : n.label);
  const score = n.score === undefined ? "" : `<div class="score">${n.score.toFixed(4)}</div>`;
  return `<div class="face ${extra || ""}" data-row="${n.row}">
    <img src="${thumb(n.row)}" alt="row ${n.row}" loading="lazy">
    ${score}<div>norm ${n.norm.toFixed(2)}</div>
    <div>label <a href="#identity=${encodeURIComponent(n.label)}" class="label">${esc(label)}</a></div>
    <div>row ${n.row}</div><div class="path">${esc(n.path)}</div></div>`;
}

function wireFaces(root) {
  root.querySelectorAll(".face:not(.query)").forEach(el => el.addEventListener("click", e => {
    if (e.target.tagName === "A") return;
    location.hash = "row=" + el.dataset.row;
  }));
}

function filters() {
  const f = { top: parseInt($("top").value || "10", 10) };
  const m = $("min-norm").value;
  if (m !== "") f.min_norm = parseFloat(m);
  return f;
}

async function showSearch(request, queryFace) {
  say("searching…");
  const answer = await api("/search", { ...request, ...filters() });
  const result = answer.results[0];
  let q = queryFace;
  if (!q && result.row !== undefined && result.row !== null) q = await api("/rows/" + result.row);
  $("view").innerHTML = `<h2>Query</h2><div class="grid" id="query">${q ? face(q, "query") : `<div class="face query">${esc(result.query)}</div>`}</div>
    <h2>Top ${result.neighbors.length} (${answer.took_ms.toFixed(1)} ms)</h2>
    <div class="grid" id="results">${result.neighbors.map(n => face(n)).join("")}</div>`;
  wireFaces($("view"));
  say("");
}

async function showIdentity(label, offset) {
  const j = await api(`/identities/${encodeURIComponent(label)}?offset=${offset}&limit=60`);
  $("view").innerHTML = `<h2 id="identity">Identity ${esc(j.label_name ?? j.label)}: ${j.total} rows</h2>
    <div class="grid">${j.rows.map(r => face(r, r.status === "failed" ? "failed" : "")).join("")}</div>${pager(o => "identity=" + encodeURIComponent(label) + "&offset=" + o, j.offset, 60, j.total)}`;
  wireFaces($("view"));
  say("");
}

function pager(hashOf, offset, limit, total) {
  const prev = offset > 0 ? `<a href="#${hashOf(Math.max(0, offset - limit))}" id="prev">previous</a>` : "";
  const next = offset + limit < total ? `<a href="#${hashOf(offset + limit)}" id="next">next</a>` : "";
  return `<p class="pager">${total ? offset + 1 : 0}–${Math.min(total, offset + limit)} of ${total} ${prev} ${next}</p>`;
}

async function showFailures(offset, category) {
  const q = `/failures?offset=${offset}&limit=50` + (category ? "&category=" + encodeURIComponent(category) : "");
  const j = await api(q);
  const cats = j.categories.map(c => `<a href="#failures=0&category=${encodeURIComponent(c.category)}">${esc(c.category)}</a> ${c.count}`).join(" · ");
  $("view").innerHTML = `<h2 id="failures">Failures: ${j.total}${category ? " in " + esc(category) : ""}</h2><p>${cats || "none"}</p>
    <table><tr><th>row</th><th>path</th><th>category</th><th>reason</th></tr>
    ${j.rows.map(r => `<tr><td>${r.row}</td><td>${esc(r.path)}</td><td>${esc(r.category)}</td><td>${esc(r.reason)}</td></tr>`).join("")}</table>
    ${pager(o => "failures=" + o + (category ? "&category=" + encodeURIComponent(category) : ""), offset, 50, j.total)}`;
  say("");
}

async function route() {
  const h = new URLSearchParams(location.hash.slice(1));
  try {
    if (h.has("row")) await showSearch({ row: parseInt(h.get("row"), 10) });
    else if (h.has("path")) await showSearch({ path: h.get("path") });
    else if (h.has("identity")) await showIdentity(h.get("identity"), parseInt(h.get("offset") || "0", 10));
    else if (h.has("failures")) await showFailures(parseInt(h.get("failures") || "0", 10), h.get("category"));
    else $("view").innerHTML = `<p id="welcome">Search by a stored path or #ROW${info && info.image_search ? ", or drop a face image" : ""}; click a face to search from it, a label to browse the identity.</p>`;
  } catch (e) { say(e.message); }
}

$("search").addEventListener("submit", e => {
  e.preventDefault();
  const text = $("path").value.trim();
  if (!text) return;
  location.hash = /^#\d+$/.test(text) ? "row=" + text.slice(1) : "path=" + encodeURIComponent(text);
  if (location.hash === "#" + (/^#\d+$/.test(text) ? "row=" + text.slice(1) : "path=" + encodeURIComponent(text))) route();
});

const drop = $("drop");
["dragenter", "dragover"].forEach(t => drop.addEventListener(t, e => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach(t => drop.addEventListener(t, e => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", async e => {
  const file = e.dataTransfer.files[0];
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  const url = URL.createObjectURL(file);
  try {
    await showSearch({ image: btoa(binary) }, null);
    $("query").innerHTML = `<div class="face query"><img src="${url}" alt="dropped image"><div>${esc(file.name)}</div></div>`;
  } catch (err) { say(err.message); }
});

window.addEventListener("hashchange", route);
(async () => {
  try {
    info = await api("/info");
    const n = info.norms;
    $("summary").textContent = `${info.store}: ${info.rows} rows (${info.ok_rows} ok, ${info.failed_rows} failed), dim ${info.dim}, ` +
      `${info.labels} labels, model ${info.provenance.architecture} ${info.provenance.model_fingerprint.slice(0, 12)}` +
      (n ? `, norms ${n.min.toFixed(1)}–${n.max.toFixed(1)} (median ${n.p50.toFixed(1)})` : "");
    if (info.image_search) drop.hidden = false;
  } catch (e) { say(e.message); }
  route();
})();
</script>
</body>
</html>
"""#
}

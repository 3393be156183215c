// cutbox operator page: plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (sel) => document.querySelector(sel);
const VIEW_PX = 1200; // long side of the images the page shows and paints on

const state = { latest: null, editing: null, tool: "keep", presets: {}, current: null, lastStatusCapture: null, busy: false };

// ---- login and requests ------------------------------------------------------------------
// The token is typed once and traded for an HttpOnly session cookie (POST /api/login): the
// page never keeps it, and the browser sends the cookie with fetches, <img> and the live view.
function askToken(message) {
  const dlg = $("#token-dialog");
  $("#token-error").textContent = message || "";
  $("#token-error").hidden = !message;
  if (!dlg.open) dlg.showModal();
  $("#token-input").focus();
}

async function login(value) {
  const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: value }) });
  return res.ok;
}

$("#token-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const value = $("#token-input").value.trim();
  if (value.length < 16) { askToken("The token has at least 16 characters."); return; }
  let ok = false;
  try { ok = await login(value); } catch (e) { askToken("The box does not answer: " + e.message); return; }
  if (!ok) { askToken("The box refused this token."); return; }
  $("#token-input").value = "";
  $("#token-dialog").close();
  loadAll();
});

function problemsText(data, fallback) {
  const detail = data && typeof data.detail === "string" ? data.detail : fallback;
  const problems = data && Array.isArray(data.problems) ? data.problems : [];
  // One problem: say it; several: list them all (the detail alone is often just "invalid request").
  if (problems.length === 1 && (detail === "invalid request" || detail === fallback)) return problems[0];
  return problems.length && !problems.every((p) => detail.includes(p)) ? detail + ": " + problems.join("; ") : detail;
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  const text = await res.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
  if (res.status === 401) { askToken(); throw Object.assign(new Error("Log in with the box's token first."), { auth: true }); }
  if (!res.ok) throw new Error(problemsText(data, res.status + " " + res.statusText));
  return data;
}

function say(text, isError) {
  const box = $("#message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

// A job done (green) or failed (red) flashes the screen, so it is seen from a step away; the
// Settings dialog turns it off for this tablet.
function flash(ok) {
  if (localStorage.getItem("cutbox.flash") === "off") return;
  const el = $("#flash");
  el.className = "";
  void el.offsetWidth; // restart the animation
  el.className = ok ? "ok" : "bad";
  el.dataset.last = ok ? "ok" : "bad";
  el.dataset.count = String(Number(el.dataset.count || 0) + 1);
}

// ---- status, banners ---------------------------------------------------------------------
function pill(id, cls, text) { const el = $(id); el.className = "pill " + cls; el.textContent = text; }

function ago(t) {
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 120 ? Math.round(s) + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
}

function renderStatus(st) {
  $("#station").textContent = st.station;
  pill("#pill-camera", st.camera.ok ? "ok" : "bad", "camera " + (st.camera.ok ? "ok" : "lost"));
  if (st.mqtt.enabled) {
    pill("#pill-broker", st.mqtt.connected ? "ok" : "bad", "broker " + (st.mqtt.connected ? "up" : "down"));
    const oldest = st.mqtt.oldest_unreceipted;
    pill("#pill-outbox", st.mqtt.outbox_full ? "bad" : (st.mqtt.outbox_depth >= 0.8 * st.mqtt.outbox_max ? "warn" : "ok"),
      "outbox " + st.mqtt.outbox_depth + (oldest ? " · oldest " + ago(oldest) : ""));
    $("#pill-outbox").title = oldest ? "Oldest capture the catalog has not confirmed yet: " + new Date(oldest * 1000).toLocaleString()
      : "Every capture is confirmed by the catalog";
  } else {
    pill("#pill-broker", "off", "broker off");
    pill("#pill-outbox", "off", "outbox -");
  }
  const sto = st.storage || {};
  if (sto.total_bytes) {
    const used = Math.round(100 * (sto.total_bytes - sto.free_bytes) / sto.total_bytes);
    pill("#pill-disk", sto.low ? "bad" : (used >= 90 ? "warn" : "ok"), "disk " + used + "% · " + sto.captures_today + " today");
    $("#pill-disk").title = (sto.free_bytes / 1e9).toFixed(1) + " GB free; " + sto.captures + " captures kept ("
      + (sto.captures_bytes / 1e9).toFixed(2) + " GB)";
  }
  const sc = st.scanner || {};
  $("#pill-scanner").hidden = !sc.enabled;
  if (sc.enabled) {
    pill("#pill-scanner", sc.ok ? "ok" : "bad", sc.ok ? "scanner" : "scanner lost");
    $("#pill-scanner").title = sc.error || sc.device;
    // a scan since the page opened fills the SKU of the next capture ("capture" took it already)
    const fresh = state.lastScanAt !== undefined && sc.last_scan_at && sc.last_scan_at !== state.lastScanAt;
    if (fresh && sc.action === "sku") $("#sku").value = sc.last_sku;
    state.lastScanAt = sc.last_scan_at || null;
  }
  const pl = st.pipeline || {};
  pill("#pill-model", pl.ok ? "ok" : "bad", pl.ok ? "model on " + (pl.backend || "?") : "model not loaded");
  $("#pill-model").title = pl.ok ? (pl.model || "") + ": " + (pl.backend_reason || "") : (pl.error || "");
  const alerts = $("#alerts");
  alerts.replaceChildren(...st.alerts.map((a) => {
    const div = document.createElement("div");
    div.className = "banner " + a.level;
    div.dataset.kind = a.kind;
    div.textContent = a.message;
    return div;
  }));
  $("#review-count").textContent = st.review_queue;
  if (!state.busy) showJob(st.job || null); // a spin started elsewhere (MQTT) shows here too
  if (st.last_capture && st.last_capture !== state.lastStatusCapture) {
    const first = state.lastStatusCapture === null;
    state.lastStatusCapture = st.last_capture;
    // A capture made elsewhere (MQTT command, another tablet) shows up here too.
    if (!state.latest || state.latest.id !== st.last_capture) showCaptureById(st.last_capture);
    if (!first) { loadReview(); loadGallery(); }
  }
}

async function pollStatus() {
  try { renderStatus(await api("GET", "/api/status")); }
  catch (e) {
    if (e.auth) { setTimeout(pollStatus, 2000); return; } // the box answers; the login dialog is up
    // (dataset is read-only: set the kind through it, never assign it)
    const div = document.createElement("div");
    div.className = "banner error";
    div.dataset.kind = "connection";
    div.textContent = "The box does not answer (" + e.message + "); trying again…";
    $("#alerts").replaceChildren(div);
    pill("#pill-camera", "off", "camera ?");
  }
  setTimeout(pollStatus, 2000);
}

// ---- capture and results -----------------------------------------------------------------
function artifactUrl(meta, name, maxSide) {
  const v = encodeURIComponent(meta.updated || "");
  return `/api/captures/${encodeURIComponent(meta.id)}/artifacts/${name}?v=${v}` + (maxSide ? `&max_side=${maxSide}` : "");
}

function outputName(meta) {
  const names = (meta.artifacts || []).map((a) => a.name);
  return ["png", "webp", "jpeg"].find((n) => names.includes(n)) || names[0];
}

function showResult(meta) {
  state.latest = meta;
  $("#result-before").src = artifactUrl(meta, "original", VIEW_PX);
  $("#result-after").src = artifactUrl(meta, outputName(meta), VIEW_PX);
  $("#result-id").textContent = (meta.sku ? meta.sku + " · " : "") + meta.id;
  const q = $("#result-quality");
  q.hidden = meta.quality === null || meta.quality === undefined;
  q.textContent = "quality " + Math.round((meta.quality || 0) * 100) + "%" + (meta.review_state === "pending" ? " · review" : "");
  q.classList.toggle("low", meta.review_state === "pending");
  $("#fix-latest").disabled = false;
  const dl = $("#download-one");
  dl.href = `/api/captures/${encodeURIComponent(meta.id)}/zip`;
  dl.hidden = false;
  const again = $("#reexport-preset");
  again.disabled = false;
  if (meta.preset && state.presets[meta.preset]) again.value = meta.preset;
  updateReexport();
}

function updateReexport() {
  const meta = state.latest;
  $("#reexport-btn").disabled = state.busy || !meta || $("#reexport-preset").value === meta.preset;
}
$("#reexport-preset").addEventListener("change", updateReexport);

$("#reexport-btn").addEventListener("click", async () => {
  const meta = state.latest;
  if (!meta || state.busy) return;
  const preset = $("#reexport-preset").value;
  state.busy = true;
  $("#reexport-btn").disabled = true;
  say("Exporting " + (meta.sku || meta.id) + " again as " + preset + "…");
  try {
    const updated = await api("POST", `/api/captures/${encodeURIComponent(meta.id)}/reexport`, { preset });
    if (state.latest && state.latest.id === updated.id) showResult(updated);
    say("Exported again as " + preset + "; the new files replace the old ones.");
    flash(true);
    loadGallery();
  } catch (e) {
    say("Re-export failed: " + e.message, true);
    flash(false);
  } finally {
    state.busy = false;
    updateReexport();
  }
});

async function showCaptureById(id) {
  let meta;
  try { meta = await api("GET", "/api/captures/" + encodeURIComponent(id)); } catch (e) { return; /* gone meanwhile */ }
  // A newer capture (this page's own, made while this answer was on its way) wins.
  if (id === state.lastStatusCapture) showResult(meta);
}

async function capture() {
  if (state.busy) return;
  state.busy = true;
  const btn = $("#capture-btn");
  btn.disabled = true; btn.classList.add("busy");
  say("Capturing…");
  try {
    const body = {};
    const sku = $("#sku").value.trim();
    if (sku) body.sku = sku;
    const preset = $("#capture-preset").value;
    if (preset && preset !== state.current) body.preset = preset;
    const meta = await api("POST", "/api/capture", body);
    state.lastStatusCapture = meta.id;
    showResult(meta);
    say(meta.review_state === "pending" ? "Captured; the edge looks doubtful, so it is in the review queue." : "Captured.");
    flash(true);
    $("#sku").value = "";
    loadReview(); loadGallery();
  } catch (e) {
    say("Capture failed: " + e.message, true);
    flash(false);
  } finally {
    state.busy = false;
    btn.disabled = false; btn.classList.remove("busy");
  }
}

$("#capture-btn").addEventListener("click", capture);
document.addEventListener("keydown", (ev) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  const dialogOpen = document.querySelector("dialog[open]");
  if (ev.code === "Space" && !typing && !dialogOpen) { ev.preventDefault(); capture(); }
});
// A barcode scanner types the SKU and presses Enter: that takes the shot.
$("#sku").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); capture(); } });

// ---- review queue ------------------------------------------------------------------------
async function loadReview() {
  let items = [];
  try { items = await api("GET", "/api/review?limit=60"); } catch (e) { return; }
  $("#review-count").textContent = items.length;
  showThumbnails($("#review-list"), items, "Nothing to review.", (meta, li, img) => {
    img.alt = meta.id;
    const cap = document.createElement("div");
    cap.className = "muted";
    cap.textContent = (meta.sku || "no SKU") + " · " + Math.round((meta.quality || 0) * 100) + "%";
    li.append(img, cap);
    li.addEventListener("click", () => openEditor(meta));
  });
}

// A list of capture thumbnails (or one line saying it is empty); `fill` adds each item's own parts.
function showThumbnails(list, items, emptyText, fill) {
  if (!items.length) {
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "empty", textContent: emptyText }));
    return;
  }
  list.replaceChildren(...items.map((meta) => {
    const li = document.createElement("li");
    li.dataset.id = meta.id;
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = artifactUrl(meta, outputName(meta), 300);
    fill(meta, li, img);
    return li;
  }));
}

// ---- correction editor -------------------------------------------------------------------
function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("could not load " + url));
    img.src = url;
  });
}

async function drawBase(meta) {
  const [photo, alpha] = await Promise.all([loadImage(artifactUrl(meta, "original", VIEW_PX)), loadImage(artifactUrl(meta, "alpha", VIEW_PX))]);
  const base = $("#base");
  base.width = photo.naturalWidth; base.height = photo.naturalHeight;
  const ctx = base.getContext("2d");
  ctx.drawImage(photo, 0, 0);
  // Shade what the box cuts away: dark red where alpha is low, untouched where it keeps.
  const off = document.createElement("canvas");
  off.width = base.width; off.height = base.height;
  const octx = off.getContext("2d");
  octx.drawImage(alpha, 0, 0, base.width, base.height);
  const a = octx.getImageData(0, 0, base.width, base.height);
  const img = ctx.getImageData(0, 0, base.width, base.height);
  for (let i = 0; i < img.data.length; i += 4) {
    const cut = 1 - a.data[i] / 255;
    img.data[i] = img.data[i] * (1 - 0.7 * cut) + 90 * 0.7 * cut;
    img.data[i + 1] = img.data[i + 1] * (1 - 0.7 * cut);
    img.data[i + 2] = img.data[i + 2] * (1 - 0.7 * cut) + 40 * 0.7 * cut;
  }
  ctx.putImageData(img, 0, 0);
  const strokes = $("#strokes");
  if (strokes.width !== base.width || strokes.height !== base.height) {
    strokes.width = base.width; strokes.height = base.height;
  }
}

async function openEditor(meta) {
  state.editing = meta;
  $("#editor-id").textContent = (meta.sku ? meta.sku + " · " : "") + meta.id;
  const strokes = $("#strokes");
  strokes.getContext("2d").clearRect(0, 0, strokes.width, strokes.height);
  state.painted = false;
  const dlg = $("#editor");
  if (!dlg.open) dlg.showModal();
  if (view.id !== meta.id) { view.id = meta.id; resetView(); } // another capture starts whole
  try { await drawBase(meta); strokes.getContext("2d").clearRect(0, 0, strokes.width, strokes.height); }
  catch (e) { say(e.message, true); }
  const pending = meta.review_state === "pending";
  $("#approve").disabled = !pending; $("#reject").disabled = !pending;
}

function setTool(tool) {
  state.tool = tool;
  $("#tool-keep").classList.toggle("active", tool === "keep");
  $("#tool-remove").classList.toggle("active", tool === "remove");
}
$("#tool-keep").addEventListener("click", () => setTool("keep"));
$("#tool-remove").addEventListener("click", () => setTool("remove"));
$("#clear-strokes").addEventListener("click", () => {
  const c = $("#strokes"); c.getContext("2d").clearRect(0, 0, c.width, c.height); state.painted = false;
});

// ---- editor zoom and pan: wheel, two fingers, + - 0 keys; Pan tool or space + drag -----------
const view = { zoom: 1, x: 0, y: 0, panTool: false, space: false };
const MAX_ZOOM = 8;

function applyView() {
  $(".canvas-inner").style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
  $("#zoom-level").textContent = Math.round(view.zoom * 100) + "%";
  $("#canvas-stack").classList.toggle("panning", view.panTool || view.space);
  $("#tool-pan").classList.toggle("active", view.panTool);
}

// Zoom by `factor` keeping the point (cx, cy) of the stack (its untransformed picture's
// coordinates) where it is; the default is the middle of the visible picture.
function zoomAt(factor, cx, cy) {
  const inner = $(".canvas-inner");
  if (cx === undefined) { cx = inner.offsetWidth / 2; cy = inner.offsetHeight / 2; }
  const zoom = Math.min(MAX_ZOOM, Math.max(1, view.zoom * factor));
  const f = zoom / view.zoom;
  view.x = cx - (cx - view.x) * f; view.y = cy - (cy - view.y) * f; view.zoom = zoom;
  if (zoom === 1) { view.x = 0; view.y = 0; }
  clampView();
  applyView();
}

// Keep some of the picture in sight: it never slides out of its frame.
function clampView() {
  const inner = $(".canvas-inner");
  const w = inner.offsetWidth, h = inner.offsetHeight;
  view.x = Math.min(0, Math.max(w - w * view.zoom, view.x));
  view.y = Math.min(0, Math.max(h - h * view.zoom, view.y));
}

function resetView() { view.zoom = 1; view.x = 0; view.y = 0; applyView(); }

function stackPoint(ev) {
  const inner = $(".canvas-inner");
  const r = $("#canvas-stack").getBoundingClientRect();
  return [ev.clientX - r.left - inner.offsetLeft, ev.clientY - r.top - inner.offsetTop];
}

$("#zoom-in").addEventListener("click", () => zoomAt(1.5));
$("#zoom-out").addEventListener("click", () => zoomAt(1 / 1.5));
$("#zoom-fit").addEventListener("click", resetView);
$("#tool-pan").addEventListener("click", () => { view.panTool = !view.panTool; applyView(); });
$("#canvas-stack").addEventListener("wheel", (ev) => {
  ev.preventDefault();
  zoomAt(ev.deltaY < 0 ? 1.25 : 1 / 1.25, ...stackPoint(ev));
}, { passive: false });

(function brush() {
  const canvas = $("#strokes");
  const pointers = new Map(); // pointerId -> [clientX, clientY]
  let last = null, drag = null, pinch = null;
  const at = (ev) => {
    const r = canvas.getBoundingClientRect(); // the zoomed box: painting follows the view
    return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
  };
  const line = (from, to) => {
    const ctx = canvas.getContext("2d");
    const r = canvas.getBoundingClientRect();
    ctx.strokeStyle = state.tool === "keep" ? "rgb(0,255,0)" : "rgb(255,0,0)";
    ctx.lineWidth = Number($("#brush-size").value) * canvas.width / Math.max(r.width, 1);
    ctx.lineCap = "round"; ctx.lineJoin = "round";
    ctx.globalCompositeOperation = "source-over";
    ctx.beginPath(); ctx.moveTo(...from); ctx.lineTo(...to); ctx.stroke();
    state.painted = true;
  };
  const spread = () => {
    const [a, b] = [...pointers.values()];
    return { d: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
  };
  canvas.addEventListener("pointerdown", (ev) => {
    canvas.setPointerCapture(ev.pointerId);
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    if (pointers.size === 2) { last = null; drag = null; pinch = { ...spread(), zoom: view.zoom }; return; }
    if (view.panTool || view.space || ev.button === 1) { drag = [ev.clientX, ev.clientY]; return; }
    last = at(ev); line(last, last);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!pointers.has(ev.pointerId)) return;
    pointers.set(ev.pointerId, [ev.clientX, ev.clientY]);
    if (pinch && pointers.size === 2) {
      const now = spread();
      const r = $("#canvas-stack").getBoundingClientRect();
      const inner = $(".canvas-inner");
      view.x += now.mid[0] - pinch.mid[0]; view.y += now.mid[1] - pinch.mid[1];
      zoomAt((pinch.zoom * now.d / pinch.d) / view.zoom, now.mid[0] - r.left - inner.offsetLeft, now.mid[1] - r.top - inner.offsetTop);
      pinch.mid = now.mid;
      return;
    }
    if (drag) {
      view.x += ev.clientX - drag[0]; view.y += ev.clientY - drag[1];
      drag = [ev.clientX, ev.clientY];
      clampView(); applyView();
      return;
    }
    if (!last) return;
    const p = at(ev); line(last, p); last = p;
  });
  const end = (ev) => {
    pointers.delete(ev.pointerId);
    if (pointers.size < 2) pinch = null;
    if (!pointers.size) { last = null; drag = null; }
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
})();

document.addEventListener("keydown", (ev) => {
  if (!$("#editor").open || ev.code !== "Space" || ev.repeat) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName) && document.activeElement.type !== "range") return;
  ev.preventDefault(); view.space = true; applyView(); // (not a click on the focused button)
});
document.addEventListener("keyup", (ev) => {
  if (ev.code !== "Space" || !view.space) return;
  ev.preventDefault(); view.space = false; applyView();
});

$("#apply-correction").addEventListener("click", async () => {
  const meta = state.editing;
  if (!meta) return;
  if (!state.painted) { say("Paint a keep or remove stroke first.", true); return; }
  const btn = $("#apply-correction");
  btn.disabled = true;
  say("Correcting…");
  try {
    const updated = await api("POST", `/api/captures/${encodeURIComponent(meta.id)}/correct`, { mask_png: $("#strokes").toDataURL("image/png") });
    state.editing = updated;
    const c = $("#strokes"); c.getContext("2d").clearRect(0, 0, c.width, c.height); state.painted = false;
    await drawBase(updated);
    if (!state.latest || state.latest.id === updated.id) showResult(updated);
    const still = updated.review_state === "pending";
    say(still ? "Corrected, but it still scores " + Math.round((updated.quality || 0) * 100) + "%: approve or reject it."
      : "Corrected; the new cut-out replaces the old one.");
    $("#approve").disabled = !still; $("#reject").disabled = !still;
    loadReview();
  } catch (e) {
    say("Correction failed: " + e.message, true);
  } finally { btn.disabled = false; }
});

async function decide(action) {
  const meta = state.editing;
  if (!meta) return;
  try {
    await api("POST", `/api/review/${encodeURIComponent(meta.id)}/${action}`);
    say(action === "approve" ? "Approved." : "Rejected.");
    $("#editor").close();
    loadReview(); loadGallery();
  } catch (e) { say(e.message, true); }
}
$("#approve").addEventListener("click", () => decide("approve"));
$("#reject").addEventListener("click", () => decide("reject"));
$("#fix-latest").addEventListener("click", () => { if (state.latest) openEditor(state.latest); });

// ---- gallery: the shift's captures ---------------------------------------------------------
function localDay(d) { return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10); }

function galleryQuery() {
  const q = new URLSearchParams();
  const sku = $("#filter-sku").value.trim();
  if (sku) q.set("sku", sku);
  if ($("#filter-day").value) q.set("day", $("#filter-day").value);
  if ($("#filter-state").value) q.set("review_state", $("#filter-state").value);
  return q;
}

async function loadGallery() {
  const q = galleryQuery();
  $("#zip-link").href = "/api/captures.zip?" + q.toString();
  q.set("limit", "120");
  let items = [];
  try { items = await api("GET", "/api/captures?" + q.toString()); } catch (e) { return; }
  $("#gallery-count").textContent = items.length;
  showThumbnails($("#gallery-list"), items, "No captures match.", (meta, li, img) => {
    img.alt = meta.sku || meta.id;
    img.addEventListener("click", () => { showResult(meta); openEditor(meta); });
    const cap = document.createElement("div");
    cap.className = "muted";
    const when = new Date((meta.created || 0) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    cap.textContent = (meta.sku || "no SKU") + " · " + when + " · ";
    const st = document.createElement("span");
    st.className = "state-" + (meta.review_state || "none");
    st.textContent = meta.review_state === "none" ? "good" : (meta.review_state || "good");
    cap.append(st);
    const del = document.createElement("button");
    del.type = "button"; del.className = "del bad"; del.textContent = "Delete"; del.title = "Delete this capture from the box";
    del.addEventListener("click", async () => {
      if (!confirm("Delete capture " + (meta.sku || meta.id) + " from the box?")) return;
      try { await api("DELETE", "/api/captures/" + encodeURIComponent(meta.id)); say("Deleted."); loadGallery(); loadReview(); }
      catch (e) { say("Not deleted: " + e.message, true); }
    });
    li.append(img, cap, del);
  });
}
$("#filter-day").value = localDay(new Date()); // the shift: today
let galleryTimer = null;
$("#gallery-filters").addEventListener("input", () => { clearTimeout(galleryTimer); galleryTimer = setTimeout(loadGallery, 250); });
$("#gallery-filters").addEventListener("submit", (ev) => { ev.preventDefault(); loadGallery(); });

// ---- spin: progress and cancel -----------------------------------------------------------
function showJob(job) {
  $("#job").hidden = !job;
  $("#cancel-btn").hidden = !job;
  if (!job) return;
  $("#job-bar").max = job.total || 1; $("#job-bar").value = job.done || 0;
  $("#job-text").textContent = job.kind + " " + (job.stage || "") + (job.cancelling ? " · cancelling…" : "");
}

async function watchJob(running) {
  while (running.active) {
    try { showJob((await api("GET", "/api/job")).job); } catch (e) { /* the status banner says why */ }
    await new Promise((r) => setTimeout(r, 400));
  }
  showJob(null);
}

// A job with a progress bar (spin, calibrate): the buttons off, the bar polled, then the
// result or the box's error said (a cancel is not a failure), a flash, the buttons on again.
async function runJob(name, startText, request, done) {
  if (state.busy) return;
  state.busy = true;
  const running = { active: true };
  setJobButtons(true);
  say(startText);
  watchJob(running);
  try {
    done(await request());
    flash(true);
  } catch (e) {
    const cancelled = e.message.includes("cancelled");
    say(name + (cancelled ? " cancelled: " : " failed: ") + e.message, !cancelled);
    if (!cancelled) flash(false);
  } finally {
    running.active = false;
    state.busy = false;
    setJobButtons(false);
    loadGallery(); loadReview();
  }
}

function setJobButtons(running) {
  for (const id of ["#spin-btn", "#capture-btn", "#calibrate-btn"]) $(id).disabled = running;
  updateReexport();
}

function spin() {
  const body = { steps: Number($("#spin-steps").value) };
  const sku = $("#sku").value.trim();
  if (sku) body.sku = sku;
  return runJob("Spin", "Spinning…", () => api("POST", "/api/spin", body), (res) => {
    say("Spin done: " + res.captures.length + " views.");
    if (res.captures.length) showResult(res.captures[res.captures.length - 1]);
    $("#sku").value = "";
  });
}
$("#spin-btn").addEventListener("click", spin);

// ---- calibrate: a clean plate of the empty booth -------------------------------------------
function calibrate() {
  if (state.busy || !confirm("Calibrate: take everything out of the booth, then press OK.")) return;
  return runJob("Calibration", "Calibrating: photographing the empty booth…", () => api("POST", "/api/calibrate", {}), (plate) => {
    say("Calibrated: a clean plate of " + plate.frames + " frames (" + plate.width + "×" + plate.height
      + "); captures now use it.");
  });
}
$("#calibrate-btn").addEventListener("click", calibrate);
$("#cancel-btn").addEventListener("click", async () => {
  try { await api("POST", "/api/cancel"); $("#job-text").textContent += " · cancelling…"; } catch (e) { say(e.message, true); }
});

// ---- review keys: A approve, R reject, N next, K keep, X remove, [ ] brush ----------------
async function openNextReview() {
  let items = [];
  try { items = await api("GET", "/api/review?limit=60"); } catch (e) { return; }
  const current = state.editing && state.editing.id;
  const next = items.find((m) => m.id !== current);
  if (next) openEditor(next); else { $("#editor").close(); say("Nothing more to review."); }
}

document.addEventListener("keydown", (ev) => {
  if (!$("#editor").open || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName) && document.activeElement.type !== "range") return;
  const key = ev.key.toLowerCase();
  const brush = $("#brush-size");
  if (key === "a" && !$("#approve").disabled) decide("approve");
  else if (key === "r" && !$("#reject").disabled) decide("reject");
  else if (key === "n") openNextReview();
  else if (key === "k") setTool("keep");
  else if (key === "x") setTool("remove");
  else if (key === "[") brush.value = Math.max(Number(brush.min), Number(brush.value) - 8);
  else if (key === "]") brush.value = Math.min(Number(brush.max), Number(brush.value) + 8);
  else if (key === "+" || key === "=") zoomAt(1.5);
  else if (key === "-") zoomAt(1 / 1.5);
  else if (key === "0") resetView();
  else return;
  ev.preventDefault();
});

// ---- settings ----------------------------------------------------------------------------
async function loadPresets() {
  try {
    const p = await api("GET", "/api/presets");
    state.presets = p.presets; state.current = p.current;
    for (const sel of [$("#preset"), $("#capture-preset"), $("#reexport-preset")]) {
      sel.replaceChildren(...Object.keys(p.presets).map((name) => Object.assign(document.createElement("option"), { value: name, textContent: name })));
      sel.value = p.current;
    }
    fillBackground();
    if (state.latest && state.presets[state.latest.preset]) $("#reexport-preset").value = state.latest.preset;
    updateReexport();
  } catch (e) { say(e.message, true); }
}

function fillBackground() {
  const preset = state.presets[$("#preset").value];
  if (!preset) return;
  const bg = preset.background === "transparent" ? "transparent" : "color";
  document.querySelectorAll("input[name=background]").forEach((r) => { r.checked = r.value === bg; });
  $("#bg-color").value = preset.color || "#ffffff";
}
$("#preset").addEventListener("change", fillBackground);
$("#open-settings").addEventListener("click", () => {
  fillBackground();
  $("#flash-setting").checked = localStorage.getItem("cutbox.flash") !== "off";
  $("#settings").showModal();
});
$("#flash-setting").addEventListener("change", () => {
  localStorage.setItem("cutbox.flash", $("#flash-setting").checked ? "on" : "off");
});

$("#save-settings").addEventListener("click", async () => {
  const name = $("#preset").value;
  const bg = (document.querySelector("input[name=background]:checked") || {}).value;
  try {
    const patch = { compose: { presets: { [name]: bg === "transparent" ? { background: "transparent", shadow: { kind: "none" } } : { background: "color", color: $("#bg-color").value } } } };
    const saved = await api("PUT", "/api/config", patch);
    await api("PUT", "/api/preset", { name });
    await loadPresets();
    const later = saved.restart_pending || [];
    say("Settings saved: preset " + name + "." + (saved.saved === false ? " (for this run only: the box could not write its settings file)" : "")
      + (later.length ? " Restart the box to apply: " + later.join(", ") + "." : ""));
    $("#settings").close();
  } catch (e) { say("Settings not saved: " + e.message, true); }
});
$("#forget-token").addEventListener("click", async () => {
  try { await fetch("/api/logout", { method: "POST" }); } catch (e) { /* offline: the cookie expires anyway */ }
  $("#settings").close();
  $("#live").removeAttribute("src");
  askToken();
});

// ---- start -------------------------------------------------------------------------------
function loadAll() {
  loadPresets();
  loadReview();
  loadGallery();
  // The live view is an endless stream: start (or restart) it once logged in.
  $("#live").src = "/api/preview.mjpeg?t=" + Date.now();
}

async function start() {
  let session = { authenticated: false, open_reads: false };
  try { session = await (await fetch("/api/session")).json(); } catch (e) { /* the status poll shows it */ }
  if (session.authenticated || session.open_reads) loadAll();
  if (!session.authenticated && !session.open_reads) askToken();
  pollStatus();
}
window.addEventListener("load", start);

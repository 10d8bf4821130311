// Lumen Image Creator: plain JavaScript, no build step. All user data is put on the page with
// textContent / attributes only (never innerHTML), so prompts containing HTML stay text.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], styles: [], job: null, abort: null, historyBefore: null };

function apiKey() { return localStorage.getItem("lumen.apiKey") || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  if (apiKey()) headers.Authorization = "Bearer " + apiKey();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) {
    askForKey();
    throw new Error("This server needs an API key.");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error.message; } catch (_) { /* keep the status line */ }
    throw new Error(message);
  }
  return response;
}

function askForKey() {
  const dialog = $("key-dialog");
  if (!dialog.open) dialog.showModal();
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- models, styles, sizes ----

function ratioLabel(size) {
  const [w, h] = size.split("x").map(Number);
  const gcd = (a, b) => (b ? gcd(b, a % b) : a);
  const g = gcd(w, h);
  const r = w / h;
  const named = [[1, "1:1"], [4 / 3, "4:3"], [3 / 4, "3:4"], [3 / 2, "3:2"], [2 / 3, "2:3"], [16 / 9, "16:9"], [9 / 16, "9:16"]]
    .find(([v]) => Math.abs(v - r) < 0.12);
  return (named ? named[1] : `${w / g}:${h / g}`) + ` (${w}×${h})`;
}

function fillSizes(model, wanted) {
  const select = $("aspect");
  select.replaceChildren();
  const sizes = model ? model.sizes.slice() : [];
  if (wanted && !sizes.includes(wanted)) sizes.push(wanted);
  for (const s of sizes) select.append(el("option", { value: s }, ratioLabel(s)));
  if (wanted) select.value = wanted;
}

function currentModel() { return state.models.find((m) => m.id === $("model").value); }

function onModelChange(wantedSize) {
  const model = currentModel();
  $("model-reason").textContent = model && !model.available ? "Unavailable: " + model.reason : "";
  fillSizes(model, wantedSize);
  $("steps").placeholder = model ? `default ${model.default_steps}` : "model default";
  $("guidance").placeholder = model ? `default ${model.default_guidance}` : "model default";
}

async function loadModels() {
  const [models, styles] = await Promise.all([
    api("/v1/models").then((r) => r.json()),
    api("/v1/lumen/styles").then((r) => r.json()),
  ]);
  state.models = models.data;
  state.styles = styles.data;
  const select = $("model");
  select.replaceChildren();
  for (const m of state.models) {
    const option = el("option", { value: m.id }, m.available ? m.id : `${m.id} (unavailable: ${m.reason})`);
    if (!m.available) { option.disabled = true; option.title = m.reason; }
    select.append(option);
  }
  const preferred = state.models.find((m) => m.is_default && m.available) || state.models.find((m) => m.available);
  if (preferred) select.value = preferred.id;
  const style = $("style");
  style.replaceChildren();
  for (const s of state.styles.filter((s) => s.id !== "natural" && s.id !== "vivid")) {
    style.append(el("option", { value: s.id === "none" ? "" : s.id }, s.label));
  }
  onModelChange();
}

// ---- generating ----

function formSettings() {
  const body = { prompt: $("prompt").value, model: $("model").value, size: $("aspect").value, n: Number($("count").value) };
  if ($("style").value) body.style = $("style").value;
  if ($("negative").value) body.negative_prompt = $("negative").value;
  if ($("steps").value) body.steps = Number($("steps").value);
  if ($("guidance").value) body.guidance = Number($("guidance").value);
  if ($("seed").value) body.seed = Number($("seed").value);
  if ($("scheduler").value) body.scheduler = $("scheduler").value;
  if ($("visible-mark").checked) body.visible_mark = true;
  return body;
}

/** Reads server-sent events from a fetch response, calling onEvent(name, data). */
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

function busy(on) {
  $("generate").disabled = on;
  $("cancel").hidden = !on;
  $("progress-box").hidden = !on;
}

async function generate(event) {
  event.preventDefault();
  if (!$("prompt").value.trim()) { setStatus("Write a prompt first.", true); $("prompt").focus(); return; }
  const model = currentModel();
  if (!model || !model.available) { setStatus("Choose an available model.", true); return; }
  busy(true);
  $("progress").value = 0;
  $("preview").hidden = true;
  $("results").replaceChildren();
  setStatus("Submitting…");
  try {
    const accepted = await (await api("/v1/lumen/jobs", { method: "POST", body: JSON.stringify(formSettings()) })).json();
    state.job = accepted.id;
    setStatus(`Queued (position ${accepted.position}).`);
    state.abort = new AbortController();
    const response = await api(`/v1/lumen/jobs/${accepted.id}/events`, { signal: state.abort.signal });
    await readEvents(response, (name, data) => {
      if (name === "queued") setStatus(`Queued (position ${data.position}).`);
      else if (name === "started") setStatus("Generating…");
      else if (name === "progress") {
        $("progress").value = data.total ? data.step / data.total : 0;
        setStatus(data.stage === "decoding" ? "Decoding…" : `Step ${data.step} of ${data.total}`);
      } else if (name === "preview") {
        $("preview").src = "data:image/png;base64," + data.b64_json;
        $("preview").hidden = false;
      } else if (name === "completed") {
        setStatus(`Done: ${data.images.length} picture(s).`);
        showCards($("results"), data.images);
      } else if (name === "failed") setStatus("Failed: " + data.error, true);
      else if (name === "cancelled") setStatus("Cancelled.");
    });
  } catch (e) {
    if (e.name !== "AbortError") setStatus(e.message, true);
  } finally {
    busy(false);
    state.job = null;
  }
}

async function cancel() {
  if (!state.job) return;
  try { await api(`/v1/lumen/jobs/${state.job}`, { method: "DELETE" }); } catch (e) { setStatus(e.message, true); }
}

// ---- history and picture pages ----

function showCards(container, images, append = false) {
  if (!append) container.replaceChildren();
  for (const image of images) {
    const card = el("a", { class: "card", href: `#/image/${image.id}` });
    card.append(el("img", { src: image.url, alt: image.settings.prompt, loading: "lazy" }));
    card.append(el("p", {}, image.settings.prompt));
    container.append(card);
  }
}

async function loadHistory(more = false) {
  const q = $("history-search").value.trim();
  const params = new URLSearchParams({ limit: "48" });
  if (q) params.set("q", q);
  if (more && state.historyBefore) params.set("before", String(state.historyBefore));
  try {
    const list = await (await api("/v1/lumen/images?" + params)).json();
    showCards($("history-grid"), list.data, more);
    state.historyBefore = list.data.length ? list.data[list.data.length - 1].created : null;
    $("history-more").hidden = list.data.length < 48;
    if (!more && !list.data.length) $("history-grid").append(el("p", {}, q ? "No picture matches." : "No pictures yet."));
  } catch (e) {
    $("history-grid").replaceChildren(el("p", { class: "error" }, e.message));
  }
}

const settingLabels = [
  ["prompt", "Prompt"], ["revised_prompt", "Prompt used"], ["negative_prompt", "Negative prompt"], ["model", "Model"],
  ["style", "Style"], ["width", "Width"], ["height", "Height"], ["steps", "Steps"], ["guidance", "Guidance"],
  ["seed", "Seed"], ["n", "Pictures in batch"], ["scheduler", "Sampler"],
];

async function showImage(id) {
  const dl = $("image-settings");
  dl.replaceChildren();
  try {
    const image = await (await api(`/v1/lumen/images/${encodeURIComponent(id)}`)).json();
    $("image-full").src = image.url;
    $("image-full").alt = image.settings.prompt;
    $("image-title").textContent = "Picture";
    $("download").href = image.url;
    $("download").setAttribute("download", `lumen-${image.id}.${image.format}`);
    for (const [key, label] of settingLabels) {
      const v = image.settings[key];
      if (v === null || v === undefined || v === "") continue;
      dl.append(el("dt", {}, label), el("dd", { "data-setting": key }, String(v)));
    }
    dl.append(el("dt", {}, "Created"), el("dd", {}, new Date(image.created * 1000).toLocaleString()));
    dl.append(el("dt", {}, "File"), el("dd", {}, `${image.format.toUpperCase()}, ${image.width}×${image.height}, ${image.bytes} bytes`));
    $("reuse").onclick = () => reuse(image.settings);
  } catch (e) {
    $("image-title").textContent = "Picture not found";
    dl.append(el("dd", { class: "error" }, e.message));
  }
}

function reuse(s) {
  location.hash = "#/";
  $("prompt").value = s.prompt;
  if (state.models.some((m) => m.id === s.model && m.available)) $("model").value = s.model;
  onModelChange(`${s.width}x${s.height}`);
  $("style").value = s.style && s.style !== "none" ? s.style : "";
  $("count").value = String(Math.min(4, Math.max(1, s.n)));
  $("negative").value = s.negative_prompt || "";
  $("steps").value = String(s.steps);
  $("guidance").value = String(s.guidance);
  $("seed").value = String(s.seed);
  $("scheduler").value = s.scheduler || "";
  $("visible-mark").checked = false;
  $("advanced").open = true;
  setStatus("Settings restored from the picture.");
  $("prompt").focus();
}

// ---- arena ----

const arena = { battle: null, categoriesLoaded: false };

async function loadArenaCategories() {
  if (arena.categoriesLoaded) return;
  const groups = (await (await api("/v1/arena/prompts")).json()).data;
  for (const select of [$("arena-category"), $("board-category")]) {
    for (const g of groups) select.append(el("option", { value: g.category }, g.category));
  }
  $("board-category").append(el("option", { value: "custom" }, "custom"));
  arena.categoriesLoaded = true;
}

async function startBattle(event) {
  event.preventDefault();
  $("arena-start").disabled = true;
  $("arena-battle").hidden = true;
  $("arena-status").textContent = "Both models are drawing…";
  const body = {};
  if ($("arena-prompt").value.trim()) body.prompt = $("arena-prompt").value.trim();
  if ($("arena-category").value) body.category = $("arena-category").value;
  try {
    const b = await (await api("/v1/arena/battles", { method: "POST", body: JSON.stringify(body) })).json();
    arena.battle = b.id;
    $("arena-shown-prompt").textContent = `“${b.prompt}” (${b.category})`;
    $("arena-left").src = b.left.image_url;
    $("arena-right").src = b.right.image_url;
    $("arena-left-model").textContent = "";
    $("arena-right-model").textContent = "";
    for (const button of $("arena-votes").querySelectorAll("button")) button.disabled = false;
    $("arena-battle").hidden = false;
    $("arena-status").textContent = "Which picture is better?";
    $("vote-left").focus();
  } catch (e) {
    $("arena-status").textContent = e.message;
  } finally {
    $("arena-start").disabled = false;
  }
}

async function castVote(outcome) {
  if (!arena.battle) return;
  for (const button of $("arena-votes").querySelectorAll("button")) button.disabled = true;
  try {
    const r = await (await api(`/v1/arena/battles/${arena.battle}/vote`, { method: "POST", body: JSON.stringify({ outcome }) })).json();
    $("arena-left-model").textContent = r.left_model;
    $("arena-right-model").textContent = r.right_model;
    $("arena-status").textContent = "Thanks, your vote counts. Start another battle?";
  } catch (e) {
    $("arena-status").textContent = e.message;
  }
  arena.battle = null;
}

async function loadBoard() {
  const params = new URLSearchParams({ bootstrap: "200", board: $("board-kind").value });
  if ($("board-category").value) params.set("category", $("board-category").value);
  const tbody = $("board").querySelector("tbody");
  try {
    const b = await (await api("/v1/arena/leaderboard?" + params)).json();
    tbody.replaceChildren();
    for (const e of b.entries) {
      const tr = el("tr");
      const low = e.bootstrapLower ?? e.lower, high = e.bootstrapUpper ?? e.upper;
      for (const v of [String(e.rank), e.model + (e.provisional ? " *" : ""), e.rating.toFixed(0),
        `${low.toFixed(0)} – ${high.toFixed(0)}`, String(e.votes), e.elo.toFixed(0)]) tr.append(el("td", {}, v));
      tbody.append(tr);
    }
    const names = b.entries.map((e) => e.model);
    const head = el("tr", {}, undefined);
    head.append(el("th", { scope: "col" }, ""));
    for (const n of names) head.append(el("th", { scope: "col" }, n));
    $("winrates").querySelector("thead").replaceChildren(head);
    const rowsBody = $("winrates").querySelector("tbody");
    rowsBody.replaceChildren();
    for (const a of names) {
      const tr = el("tr");
      tr.append(el("th", { scope: "row" }, a));
      for (const o of names) {
        const v = (b.win_rates[a] || {})[o];
        tr.append(el("td", {}, a === o || v === undefined ? "–" : `${Math.round(v * 100)}%`));
      }
      rowsBody.append(tr);
    }
    const updated = b.last_updated ? new Date(b.last_updated * 1000).toLocaleString() : "never";
    $("board-summary").textContent = b.board === "automatic"
      ? `${b.votes} automatic battles judged by ${b.judge} (not people's votes) · last updated ${updated}`
      : `${b.votes} anonymous votes · last updated ${updated} · left-side advantage ${b.position_bias.toFixed(1)} points`;
    $("board-summary").dataset.votes = String(b.votes);
  } catch (e) {
    tbody.replaceChildren();
    $("winrates").querySelector("thead").replaceChildren();
    $("winrates").querySelector("tbody").replaceChildren();
    $("board-summary").textContent = e.message;
  }
}

// ---- verification ----

async function verify(event) {
  event.preventDefault();
  const file = $("verify-file").files[0];
  const dl = $("verify-result");
  dl.replaceChildren();
  if (!file) return;
  try {
    const r = await (await api("/v1/verify", { method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" } })).json();
    const c = r.c2pa;
    const verdict = { trusted: "valid and trusted", valid: "valid (signer not trusted by this server)", invalid: "INVALID", absent: "none" }[c.state] || c.state;
    const rows = [
      ["AI-generated", r.ai_generated ? "yes (trainedAlgorithmicMedia)" : "not declared"],
      ["Content Credentials", verdict],
      ["Generator", [c.generator, c.model].filter(Boolean).join(", ")],
      ["Signer", c.signer],
      ["Problems", c.problems.join("; ")],
      ["Watermark", r.watermark.present ? `${r.watermark.generator}, picture ${r.watermark.picture_id}` : `not found${r.watermark.reason ? " (" + r.watermark.reason + ")" : ""}`],
      ["Picture", `${r.format.toUpperCase()} ${r.width}×${r.height}`],
    ];
    for (const [k, v] of rows) if (v) dl.append(el("dt", {}, k), el("dd", { class: c.state === "invalid" && k === "Content Credentials" ? "error" : "" }, v));
  } catch (e) {
    dl.append(el("dd", { class: "error" }, e.message));
  }
}

// ---- routing ----

function route() {
  const hash = location.hash || "#/";
  const views = { create: $("view-create"), history: $("view-history"), image: $("view-image"), verify: $("view-verify"),
    arena: $("view-arena"), leaderboard: $("view-leaderboard") };
  let current = "create";
  if (hash.startsWith("#/history")) current = "history";
  else if (hash.startsWith("#/verify")) current = "verify";
  else if (hash.startsWith("#/arena")) current = "arena";
  else if (hash.startsWith("#/leaderboard")) current = "leaderboard";
  else if (hash.startsWith("#/image/")) current = "image";
  for (const [name, view] of Object.entries(views)) view.hidden = name !== current;
  $("nav-create").toggleAttribute("aria-current", current === "create");
  $("nav-history").toggleAttribute("aria-current", current === "history");
  for (const name of ["verify", "arena", "leaderboard"]) {
    $("nav-" + name).toggleAttribute("aria-current", current === name);
    if (current === name) $("nav-" + name).setAttribute("aria-current", "page");
  }
  if (current === "arena" || current === "leaderboard") {
    loadArenaCategories().then(() => { if (current === "leaderboard") loadBoard(); }).catch((e) => setStatus(e.message, true));
  }
  if (current === "create") $("nav-create").setAttribute("aria-current", "page");
  if (current === "history") { $("nav-history").setAttribute("aria-current", "page"); loadHistory(); }
  if (current === "image") showImage(decodeURIComponent(hash.slice("#/image/".length)));
}

document.addEventListener("DOMContentLoaded", () => {
  $("create-form").addEventListener("submit", generate);
  $("cancel").addEventListener("click", cancel);
  $("model").addEventListener("change", () => onModelChange());
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("create-form").requestSubmit();
  });
  $("history-form").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
  $("history-more").addEventListener("click", () => loadHistory(true));
  $("verify-form").addEventListener("submit", verify);
  $("arena-form").addEventListener("submit", startBattle);
  for (const button of $("arena-votes").querySelectorAll("button")) button.addEventListener("click", () => castVote(button.dataset.outcome));
  $("board-category").addEventListener("change", loadBoard);
  $("board-kind").addEventListener("change", loadBoard);
  $("key-form").addEventListener("submit", () => {
    localStorage.setItem("lumen.apiKey", $("api-key").value.trim());
    loadModels().catch((e) => setStatus(e.message, true));
  });
  window.addEventListener("hashchange", route);
  loadModels().then(route).catch((e) => { setStatus(e.message, true); route(); });
});

"use strict";
const $ = (id) => document.getElementById(id);
let models = [], controller = null;
const key = new URLSearchParams(location.search).get("key");
const headers = { "Content-Type": "application/json", ...(key ? { Authorization: "Bearer " + key } : {}) };

function showError(msg) { $("error").textContent = msg || ""; }
async function post(path, body) {
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error ? data.error.message : r.statusText);
  return data;
}
function current() { return models.find((m) => m.id === $("model").value); }
function showKind() {
  const m = current();
  for (const k of ["generator", "classifier", "forecaster", "translator", "vectors"]) $(k).hidden = !m || m.kind !== k;
  const ids = (m && m.series_ids) || [];
  $("series").replaceChildren(...ids.map((id) => { const o = document.createElement("option"); o.textContent = id; return o; }));
  $("series-pick").hidden = ids.length === 0;
  showError("");
}
function num(id) { const v = $(id).value; return v === "" ? null : Number(v); }

async function generate() {
  if (controller) return;
  const body = { model: current().id, prompt: $("prompt").value, max_tokens: num("length") || 300,
    temperature: num("temperature") ?? 1, top_k: num("top_k"), top_p: num("top_p"), seed: num("seed"), stream: true };
  $("output").textContent = body.prompt;
  controller = new AbortController();
  $("generate").disabled = true; $("stop").disabled = false; showError("");
  try {
    const r = await fetch("/v1/completions", { method: "POST", headers, body: JSON.stringify(body),
                                               signal: controller.signal });
    if (!r.ok) { const d = await r.json(); throw new Error(d.error ? d.error.message : r.statusText); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const line = buf.slice(0, at).replace(/^data: /, ""); buf = buf.slice(at + 2);
        if (line === "[DONE]") continue;
        const chunk = JSON.parse(line);
        if (chunk.error) throw new Error(chunk.error.message);
        $("output").textContent += chunk.choices[0].text;
      }
    }
    $("output").dataset.done = "1";
  } catch (e) { if (e.name !== "AbortError") showError(e.message); }
  finally { controller = null; $("generate").disabled = false; $("stop").disabled = true; }
}

async function classify() {
  try {
    const d = await post("/v1/classify", { model: current().id, texts: [$("text").value] });
    $("label").textContent = d.labels[0];
    $("bars").innerHTML = "";
    d.classes.forEach((c, i) => {
      const p = d.probabilities[0][i], row = document.createElement("div");
      row.className = "bar";
      const name = document.createElement("span"); name.textContent = c;
      const bar = document.createElement("div"); bar.style.width = (p * 60).toFixed(1) + "%";
      const val = document.createElement("small"); val.textContent = (p * 100).toFixed(1) + "%";
      row.append(name, bar, val); $("bars").append(row);
    });
  } catch (e) { showError(e.message); }
}

async function forecast() {
  try {
    const m = current(), body = { model: m.id };
    if (m.series_ids) body.series_id = $("series").value;  // a global model: the picked series
    const d = await post("/v1/forecast", body);
    const pts = d.point.map((r) => r[0]);
    let lo = null, hi = null;
    if (d.quantiles) { lo = d.quantiles.map((r) => r[0][0]); hi = d.quantiles.map((r) => r[0][r[0].length - 1]); }
    const all = pts.concat(lo || [], hi || []), min = Math.min(...all), max = Math.max(...all) || 1;
    const W = 600, H = 240, x = (i) => 20 + (i * (W - 40)) / Math.max(1, pts.length - 1);
    const y = (v) => H - 20 - ((v - min) / (max - min || 1)) * (H - 40);
    let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="forecast">`;
    if (lo) {
      const band = lo.map((v, i) => `${x(i)},${y(v)}`).concat(hi.map((v, i) => `${x(i)},${y(v)}`).reverse());
      svg += `<polygon points="${band.join(" ")}" fill="#3b5bdb33"/>`;
    }
    svg += `<polyline fill="none" stroke="#3b5bdb" stroke-width="2" points="${pts.map((v, i) => `${x(i)},${y(v)}`).join(" ")}"/></svg>`;
    $("chart").innerHTML = svg;
  } catch (e) { showError(e.message); }
}

async function translate() {
  try {
    const d = await post("/v1/translate", { model: current().id, sources: [$("source").value], beam: num("beam") || 1,
                                            attention: true });
    $("translation").textContent = d.outputs[0];
    drawAttention(d.attention ? d.attention[0] : null);
  } catch (e) { showError(e.message); }
}

// The attention map: one row per output token, one column per source token, darker = more weight.
function drawAttention(map) {
  const box = $("attention");
  box.innerHTML = "";
  box.hidden = !map;
  if (!map) return;
  const table = document.createElement("table");
  const head = table.insertRow();
  head.append(document.createElement("th"));
  for (const t of map.source_tokens) { const th = document.createElement("th"); th.textContent = t; head.append(th); }
  map.weights.forEach((row, i) => {
    const tr = table.insertRow();
    const th = document.createElement("th"); th.textContent = map.output_tokens[i]; tr.append(th);
    for (const w of row) {
      const td = tr.insertCell();
      td.style.background = `rgba(59, 91, 219, ${w.toFixed(3)})`;
      td.title = w.toFixed(3);
    }
  });
  box.append(table);
}

async function similar() {
  try {
    const d = await post("/v1/similar", { model: current().id, word: $("word").value, topn: 10 });
    $("neighbours").innerHTML = "";
    for (const [w, s] of d.similar) { const li = document.createElement("li"); li.textContent = `${w} (${s.toFixed(3)})`; $("neighbours").append(li); }
  } catch (e) { showError(e.message); }
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    const k = current() && current().kind;
    ({ generator: generate, classifier: classify, forecaster: forecast, translator: translate, vectors: similar })[k]?.();
  }
});
$("generate").onclick = generate;
$("stop").onclick = () => controller && controller.abort();
$("classify").onclick = classify; $("forecast").onclick = forecast;
$("translate").onclick = translate; $("similar").onclick = similar;
$("model").onchange = showKind;

fetch("/v1/models", { headers }).then((r) => r.json()).then((d) => {
  models = d.data || [];
  for (const m of models) { const o = document.createElement("option"); o.value = m.id; o.textContent = `${m.id} (${m.kind})`; $("model").append(o); }
  showKind();
}).catch((e) => showError(e.message));

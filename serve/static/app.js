/* StanceLens analyst page: plain JS, no dependencies, talks only to this server.
 *
 * Offsets from the server count Unicode code points (Python str indices), not the
 * UTF-16 units of JS strings, so all slicing goes through Array.from(text).
 */
(function () {
  "use strict";

  const DEFAULT_LABELS = ["pro_nrf", "pro_taliban", "neutral"];
  const LABEL_NAMES = { pro_nrf: "pro-NRF", pro_taliban: "pro-Taliban", neutral: "neutral" };
  const KEY_STORAGE = "stancelens.apiKey";
  const DEBOUNCE_MS = 300;

  const $ = (id) => document.getElementById(id);
  const els = {
    input: $("input"),
    analyze: $("analyze"),
    file: $("file"),
    source: $("source"),
    threshold: $("threshold"),
    thresholdValue: $("threshold-value"),
    thresholdReset: $("threshold-reset"),
    status: $("status"),
    error: $("error"),
    summaryCard: $("summary-card"),
    summary: $("summary"),
    resultsCard: $("results-card"),
    results: $("results"),
    legend: $("legend"),
    downloadJson: $("download-json"),
    downloadCsv: $("download-csv"),
    apiKey: $("api-key"),
    apiKeyBox: $("apikey-box"),
    modelInfo: $("model-info"),
    techniqueFilter: $("technique-filter"),
  };

  const state = {
    labels: DEFAULT_LABELS.slice(),
    modelThreshold: null, // from /v1/model
    override: null, // the slider's value once the analyst moves it; null = the model's threshold
    source: null, // {kind: "text", text} or {kind: "file", file, name, text}
    response: null,
    controller: null,
    seq: 0,
    timer: null,
    renders: 0, // how many times results were drawn (tests wait on data-render)
    techniques: [], // [{name, definition}] of the 14 PTC techniques, from /v1/model
    techniqueHead: false, // whether the model predicts them
    highlight: "loaded", // what the sentences highlight: "loaded", "all" (techniques) or one technique name
  };

  // ---------------------------------------------------------------- helpers

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name === "style") node.setAttribute("style", value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const pct = (x) => `${(100 * x).toFixed(x > 0 && x < 0.1 ? 1 : 0)}%`;
  const prob = (x) => Number(x).toFixed(3);
  const labelName = (label) => LABEL_NAMES[label] || label;
  const currentThreshold = () => (state.override === null ? state.modelThreshold : state.override);

  function headers(extra) {
    const out = Object.assign({}, extra || {});
    const key = (els.apiKey.value || "").trim();
    if (key) out["X-API-Key"] = key;
    return out;
  }

  async function api(path, options) {
    let response;
    try {
      response = await fetch(path, options);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiFailure(0, "network_error", "Could not reach the StanceLens server. Is it still running?");
    }
    const raw = await response.text();
    let body = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      if (body && typeof body === "object" && (body.message || body.error)) {
        throw new ApiFailure(response.status, body.error || "error", body.message || body.error);
      }
      const text = raw.trim().slice(0, 300) || response.statusText || "no details";
      throw new ApiFailure(response.status, "http_error", `The server answered ${response.status}: ${text}`);
    }
    if (body === null) throw new ApiFailure(response.status, "bad_response", "The server sent an empty or non-JSON answer.");
    return body;
  }

  function showError(err, origin) {
    els.error.dataset.origin = origin || "";
    if (!err) {
      els.error.hidden = true;
      els.error.replaceChildren();
      return;
    }
    const code = err.code || "error";
    const title = err.status ? `${err.status} · ${code}` : code;
    els.error.replaceChildren(
      el("strong", { class: "error-code", text: title }),
      el("span", { class: "error-message", "data-testid": "error-message", text: err.message || String(err) }),
    );
    if (err.status === 401) {
      els.error.append(el("span", { class: "error-hint", text: "Enter the key under “API key” at the top right." }));
      els.apiKeyBox.open = true;
    }
    els.error.hidden = false;
  }

  function setStatus(text, busy) {
    els.status.textContent = text || "";
    els.status.classList.toggle("busy", Boolean(busy));
    els.results.setAttribute("data-state", busy ? "loading" : state.response ? "ready" : "empty");
    els.analyze.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // ---------------------------------------------------------------- model card

  async function loadModel() {
    try {
      const card = await api("/v1/model", { headers: headers() });
      if (Array.isArray(card.stance_labels) && card.stance_labels.length) state.labels = card.stance_labels.slice();
      state.modelThreshold = typeof card.loaded_threshold === "number" ? card.loaded_threshold : 0.5;
      if (state.override === null) setSlider(state.modelThreshold);
      state.techniques = Array.isArray(card.techniques) ? card.techniques.slice() : [];
      state.techniqueHead = Boolean(card.technique_head);
      renderTechniqueFilter();
      const parts = [
        `Model ${card.name || "stancelens"}${card.version ? " v" + card.version : ""}`,
        card.ref ? `ref ${shortRef(card.ref)}` : null,
        card.runtime ? `runtime ${card.runtime}` : null,
        `loaded threshold ${Number(state.modelThreshold).toFixed(2)}`,
        card.mlflow_run_id ? `MLflow run ${String(card.mlflow_run_id).slice(0, 8)}` : null,
        card.git_commit ? `commit ${String(card.git_commit).slice(0, 7)}` : null,
      ].filter(Boolean);
      els.modelInfo.textContent = parts.join(" · ");
      els.modelInfo.title = JSON.stringify(card, null, 2);
      els.modelInfo.classList.remove("warn");
      renderLegend();
      if (els.error.dataset.origin === "model") showError(null);
      return true;
    } catch (err) {
      if (state.modelThreshold === null) setSlider(0.5);
      const msg = err.status === 503 ? "Model is still loading… retrying." : `Model information unavailable: ${err.message}`;
      els.modelInfo.textContent = msg;
      els.modelInfo.classList.add("warn");
      if (err.status === 503) {
        setTimeout(loadModel, 1500);
      } else {
        showError(err, "model");
      }
      return false;
    }
  }

  function shortRef(ref) {
    // A local folder path is long and says little; its last part identifies the model (full card on hover).
    const text = String(ref);
    if (!/^(\/|[A-Za-z]:\\|\.)/.test(text)) return text;
    const parts = text.split(/[\\/]+/).filter(Boolean);
    return parts.length > 1 ? `…/${parts[parts.length - 1]}` : text;
  }

  function setSlider(value) {
    const v = Math.min(0.95, Math.max(0.05, Number(value)));
    els.threshold.value = String(v);
    updateThresholdLabel();
  }

  function updateThresholdLabel() {
    const t = currentThreshold();
    const shown = t === null ? Number(els.threshold.value) : t;
    els.thresholdValue.textContent = Number(shown).toFixed(2) + (state.override === null ? " (model)" : "");
    els.thresholdReset.hidden = state.override === null;
  }

  // ---------------------------------------------------------------- analysis

  async function run(source, { newSource }) {
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    const threshold = state.override;
    showError(null);
    setStatus(threshold === null ? "Analysing…" : `Analysing at threshold ${threshold.toFixed(2)}…`, true);
    els.analyze.disabled = true;
    const started = performance.now();
    let options;
    let path;
    if (source.kind === "file") {
      const form = new FormData();
      form.append("file", source.file, source.name);
      if (threshold !== null) form.append("loaded_threshold", String(threshold));
      path = "/v1/analyze/file";
      options = { method: "POST", headers: headers(), body: form, signal: controller.signal };
    } else {
      const body = { documents: [{ id: "pasted", text: source.text }], sentences: false, loaded_threshold: threshold };
      path = "/v1/analyze";
      options = {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
        signal: controller.signal,
      };
    }
    try {
      const response = await api(path, options);
      if (seq !== state.seq) return;
      state.source = source;
      state.response = response;
      render(response, source);
      const n = response.results.reduce((acc, r) => acc + r.sentences.length, 0);
      const ms = Math.round(performance.now() - started);
      setStatus(`${n} sentence${n === 1 ? "" : "s"} analysed in ${ms} ms at loaded threshold ${Number(response.loaded_threshold).toFixed(2)}.`, false);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (seq !== state.seq) return;
      if (newSource) {
        state.source = null;
        state.response = null;
        clearResults();
      }
      setStatus("", false);
      showError(err);
    } finally {
      if (seq === state.seq) {
        els.analyze.disabled = false;
        state.controller = null;
      }
    }
  }

  function analyzeText() {
    const text = els.input.value;
    if (!text.trim()) {
      showError({ code: "empty_text", message: "Paste some text to analyse first." });
      els.input.focus();
      return;
    }
    els.source.textContent = "Source: pasted text";
    run({ kind: "text", text }, { newSource: true });
  }

  async function analyzeFile() {
    const file = els.file.files && els.file.files[0];
    if (!file) return;
    els.file.value = ""; // choosing the same file again fires change again
    let text = null;
    try {
      // Keep a BOM like the server's decoder does, so offsets line up; the server decides what is valid UTF-8.
      text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(await file.arrayBuffer());
    } catch (_) {
      text = null;
    }
    els.source.textContent = `Source: ${file.name}`;
    run({ kind: "file", file, name: file.name, text }, { newSource: true });
  }

  function scheduleRerun() {
    clearTimeout(state.timer);
    if (!state.source) return;
    state.timer = setTimeout(() => run(state.source, { newSource: false }), DEBOUNCE_MS);
  }

  // ---------------------------------------------------------------- rendering

  function clearResults() {
    els.summary.replaceChildren();
    els.results.replaceChildren();
    els.results.removeAttribute("data-threshold");
    els.summaryCard.hidden = true;
    els.resultsCard.hidden = true;
    els.downloadJson.disabled = true;
    els.downloadCsv.disabled = true;
  }

  // ---------------------------------------------------------------- techniques

  // One hue per technique, in the model's order (14 PTC techniques); colour is never the only cue:
  // every highlight names its technique on hover and in its data-technique attribute.
  const TECHNIQUE_HUES = [0, 25, 45, 90, 140, 170, 195, 215, 235, 260, 285, 305, 325, 345];

  function techniqueSlug(name) {
    return String(name).toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  }

  function techniqueHue(name) {
    const i = state.techniques.findIndex((t) => t.name === name);
    return TECHNIQUE_HUES[(i < 0 ? 0 : i) % TECHNIQUE_HUES.length];
  }

  function techniqueDefinition(name) {
    const t = state.techniques.find((x) => x.name === name);
    return t ? t.definition : "";
  }

  function renderTechniqueFilter() {
    const select = els.techniqueFilter;
    const options = [el("option", { value: "loaded", text: "Loaded language (conflict guideline)" })];
    if (state.techniqueHead) {
      options.push(el("option", { value: "all", text: "All propaganda techniques (PTC)" }));
      for (const t of state.techniques) options.push(el("option", { value: t.name, text: t.name, title: t.definition }));
    }
    select.replaceChildren(...options);
    const known = state.highlight === "all" || state.techniques.some((t) => t.name === state.highlight);
    if (!state.techniqueHead || !known) state.highlight = "loaded";
    select.value = state.highlight;
    select.disabled = !state.techniqueHead;
    select.title = state.techniqueHead ? "What the sentences highlight" : "This model has no technique head";
  }

  function shownTechniques(row) {
    if (state.highlight === "loaded") return [];
    return (row.techniques || []).filter((t) => state.highlight === "all" || t.technique === state.highlight);
  }

  function renderLegend() {
    if (state.highlight !== "loaded") {
      const counts = new Map();
      for (const result of state.response ? state.response.results : []) {
        for (const row of result.sentences) for (const t of shownTechniques(row)) counts.set(t.technique, (counts.get(t.technique) || 0) + 1);
      }
      const names = state.highlight === "all" ? state.techniques.map((t) => t.name) : [state.highlight];
      els.legend.replaceChildren(
        ...names.map((name) =>
          el(
            "li",
            { class: "legend-item technique-legend", "data-technique": name, title: techniqueDefinition(name) },
            el("mark", { class: "technique sample", style: `--hue: ${techniqueHue(name)}` }, name.replace(/_/g, " ")),
            el("span", { class: "chip-count", text: `×${counts.get(name) || 0}` }),
          ),
        ),
      );
      return;
    }
    els.legend.replaceChildren(
      ...state.labels.map((label) =>
        el("li", { class: "legend-item", "data-stance": label }, el("span", { class: "swatch", "aria-hidden": "true" }), labelName(label)),
      ),
      el("li", { class: "legend-item" }, el("mark", { class: "loaded sample" }, "loaded phrase")),
      el("li", { class: "legend-item loaded-flag-sample" }, "flagged sentence"),
    );
  }

  function render(response, source) {
    renderLegend();
    els.summary.replaceChildren();
    els.results.replaceChildren();
    const many = response.results.length > 1;
    for (const result of response.results) {
      els.summary.append(renderSummary(result, many));
      els.results.append(renderDocument(result, source, many));
    }
    els.results.setAttribute("data-threshold", String(response.loaded_threshold));
    els.results.setAttribute("data-render", String(++state.renders));
    els.summaryCard.hidden = false;
    els.resultsCard.hidden = false;
    els.downloadJson.disabled = false;
    els.downloadCsv.disabled = false;
  }

  function renderSummary(result, showId) {
    const s = result.summary;
    const box = el("div", { class: "summary-doc", "data-doc-id": result.doc_id });
    if (showId) box.append(el("h3", { text: result.doc_id }));

    const bar = el("div", { class: "stacked-bar", id: showId ? null : "stance-bar", "data-testid": "stance-bar", role: "img" });
    const described = [];
    for (const label of state.labels) {
      const share = (s.stance_shares && s.stance_shares[label]) || 0;
      const count = (s.stance_counts && s.stance_counts[label]) || 0;
      described.push(`${labelName(label)} ${pct(share)}`);
      if (share <= 0) continue;
      bar.append(
        el(
          "span",
          {
            class: "segment",
            "data-stance": label,
            style: `flex-grow: ${share}`,
            title: `${labelName(label)}: ${count} of ${s.sentences} sentences (${pct(share)})`,
          },
          share >= 0.12 ? `${labelName(label)} ${pct(share)}` : "",
        ),
      );
    }
    bar.setAttribute("aria-label", `Stance shares: ${described.join(", ")}`);

    const counts = el(
      "ul",
      { class: "stance-counts" },
      ...state.labels.map((label) =>
        el(
          "li",
          { "data-stance": label },
          el("span", { class: "swatch", "aria-hidden": "true" }),
          el("b", { text: String((s.stance_counts && s.stance_counts[label]) || 0) }),
          ` ${labelName(label)} (${pct((s.stance_shares && s.stance_shares[label]) || 0)})`,
        ),
      ),
    );

    const loadedMeter = el(
      "div",
      { class: "meter", role: "img", "aria-label": `Loaded share ${pct(s.loaded_share)}` },
      el("span", { class: "meter-fill", style: `width: ${(100 * s.loaded_share).toFixed(2)}%` }),
    );
    const loaded = el(
      "div",
      { class: "loaded-summary", id: showId ? null : "loaded-share", "data-testid": "loaded-share" },
      el("span", { class: "summary-label", text: "Loaded language" }),
      loadedMeter,
      el("span", { class: "loaded-text" }, el("b", { text: pct(s.loaded_share) }), ` of sentences (${s.loaded_sentences} of ${s.sentences})`),
    );

    const phrases = el("div", { class: "phrases", "data-testid": "top-phrases" }, el("span", { class: "summary-label", text: "Top loaded phrases" }));
    if (s.top_loaded_phrases && s.top_loaded_phrases.length) {
      const list = el("ul", { class: "chips" });
      for (const [phrase, count] of s.top_loaded_phrases) {
        list.append(el("li", { class: "chip" }, el("span", { text: phrase }), el("span", { class: "chip-count", text: `×${count}` })));
      }
      phrases.append(list);
    } else {
      phrases.append(el("span", { class: "muted", text: "none at this threshold" }));
    }

    const found = Object.entries(s.technique_counts || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const techniques = el("div", { class: "phrases", "data-testid": "technique-counts" }, el("span", { class: "summary-label", text: "Techniques (PTC)" }));
    if (found.length) {
      const list = el("ul", { class: "chips" });
      for (const [name, count] of found) {
        list.append(
          el("li", { class: "chip", "data-technique": name, title: techniqueDefinition(name) }, el("span", { text: name.replace(/_/g, " ") }), el("span", { class: "chip-count", text: `×${count}` })),
        );
      }
      techniques.append(list);
    } else {
      techniques.append(el("span", { class: "muted", text: state.techniqueHead ? "none found" : "this model has no technique head" }));
    }

    const meta = el("p", { class: "summary-meta" }, `${s.sentences} sentence${s.sentences === 1 ? "" : "s"}`);
    if (s.windowed_sentences) meta.append(` · ${s.windowed_sentences} long sentence(s) scored in several windows`);

    box.append(el("div", { class: "summary-row" }, el("span", { class: "summary-label", text: "Stance shares" }), bar), counts, loaded, phrases, techniques, meta);
    return box;
  }

  function sentenceTitle(row) {
    const lines = [`Stance: ${labelName(row.stance)}`];
    for (const label of state.labels) {
      const p = row.stance_probs ? row.stance_probs[label] : undefined;
      if (p !== undefined) lines.push(`  ${label}: ${prob(p)}`);
    }
    const t = Number(state.response ? state.response.loaded_threshold : currentThreshold());
    lines.push(`Loaded: ${prob(row.loaded_prob)} (${row.loaded ? "flagged" : "not flagged"} at threshold ${t.toFixed(2)})`);
    if (row.windows > 1) lines.push(`Scored in ${row.windows} windows`);
    return lines.join("\n");
  }

  function renderTechniqueSpans(node, chars, row) {
    // Spans of different techniques may overlap: cut the text at every span edge and mark each
    // piece with all the techniques that cover it (colour of the first, all named on hover).
    const spans = shownTechniques(row)
      .map((t) => ({ ...t, start: Math.max(0, t.start), end: Math.min(chars.length, t.end) }))
      .filter((t) => t.end > t.start);
    const edges = [...new Set([0, chars.length, ...spans.flatMap((t) => [t.start, t.end])])].sort((a, b) => a - b);
    for (let i = 0; i + 1 < edges.length; i++) {
      const [a, b] = [edges[i], edges[i + 1]];
      const text = chars.slice(a, b).join("");
      const covering = spans.filter((t) => t.start <= a && t.end >= b);
      if (!covering.length) {
        node.append(text);
        continue;
      }
      const names = covering.map((t) => t.technique);
      node.append(
        el(
          "mark",
          {
            class: "technique",
            "data-technique": names.join("|"),
            style: `--hue: ${techniqueHue(names[0])}`,
            title: covering.map((t) => `${t.technique} · ${prob(t.prob)}: ${techniqueDefinition(t.technique)}`).join("\n"),
          },
          text,
        ),
      );
    }
  }

  function renderSentence(row) {
    const node = el("span", {
      class: "sentence",
      "data-stance": row.stance,
      "data-loaded": row.loaded ? "1" : "0",
      "data-index": row.sent_index,
      tabindex: 0,
      title: sentenceTitle(row),
    });
    const chars = Array.from(row.text);
    if (state.highlight !== "loaded") {
      renderTechniqueSpans(node, chars, row);
      return node;
    }
    const spans = (row.loaded_spans || [])
      .map((sp) => ({ start: Math.max(0, sp.start), end: Math.min(chars.length, sp.end), prob: sp.prob, text: sp.text }))
      .filter((sp) => sp.end > sp.start)
      .sort((a, b) => a.start - b.start);
    let at = 0;
    for (const sp of spans) {
      if (sp.start < at) continue; // overlapping spans: keep the first
      if (sp.start > at) node.append(chars.slice(at, sp.start).join(""));
      node.append(
        el("mark", { class: "loaded", title: `Loaded phrase · ${prob(sp.prob)}` }, chars.slice(sp.start, sp.end).join("")),
      );
      at = sp.end;
    }
    if (at < chars.length) node.append(chars.slice(at).join(""));
    return node;
  }

  function renderDocument(result, source, showId) {
    const doc = el("div", { class: "document", "data-doc-id": result.doc_id });
    if (showId) doc.append(el("h3", { text: result.doc_id }));
    const body = el("div", { class: "document-text" });
    // Re-create the original layout (line breaks, spacing) from the text between sentences when we have it.
    const docChars = source && source.text !== null && source.text !== undefined ? Array.from(source.text) : null;
    const aligned =
      docChars !== null &&
      result.sentences.every((row) => docChars.slice(row.start, row.end).join("") === row.text);
    let at = 0;
    result.sentences.forEach((row, i) => {
      if (aligned) {
        if (row.start > at) body.append(docChars.slice(at, row.start).join(""));
        at = row.end;
      } else if (i > 0) {
        body.append(" ");
      }
      body.append(renderSentence(row));
    });
    if (aligned && at < docChars.length) body.append(docChars.slice(at).join("").replace(/\s+$/, ""));
    doc.append(body);
    return doc;
  }

  // ---------------------------------------------------------------- downloads

  function csvCell(value) {
    let s = value === null || value === undefined ? "" : String(value);
    // Spreadsheets run a text cell starting with = + - @ (or tab / CR) as a formula: prefix an
    // apostrophe, as the CLI's CSV does (serve/batch.py: spreadsheet_safe). A cell that already
    // starts with an apostrophe gets one too, so dropping one leading ' always gives the original.
    if (typeof value === "string" && /^[=+\-@\t\r']/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  }

  function toCsv(response) {
    const labels = state.labels;
    // The CLI's columns (model/schema.py: flat_sentence_columns): one count column per PTC technique.
    const techniqueNames = state.techniques.map((t) => t.name);
    const header = ["doc_id", "sent_index", "start", "end", "text", "stance"]
      .concat(labels.map((l) => `prob_${l}`))
      .concat(["loaded", "loaded_prob", "loaded_spans", "windows", "techniques"])
      .concat(techniqueNames.map((t) => `n_${techniqueSlug(t)}`));
    const lines = [header.map(csvCell).join(",")];
    for (const result of response.results) {
      for (const row of result.sentences) {
        const cells = [row.doc_id, row.sent_index, row.start, row.end, row.text, row.stance]
          .concat(labels.map((l) => Number(row.stance_probs[l]).toFixed(6)))
          .concat([row.loaded, Number(row.loaded_prob).toFixed(6), JSON.stringify(row.loaded_spans), row.windows])
          .concat([JSON.stringify(row.techniques || [])])
          .concat(techniqueNames.map((t) => (row.techniques || []).filter((x) => x.technique === t).length));
        lines.push(cells.map(csvCell).join(","));
      }
    }
    return lines.join("\r\n") + "\r\n";
  }

  function fileStem() {
    const response = state.response;
    const id = response && response.results.length === 1 ? response.results[0].doc_id : "documents";
    const clean = String(id).replace(/\.txt$/i, "").replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) || "document";
    return `stancelens-${clean}-t${Number(response.loaded_threshold).toFixed(2)}`;
  }

  function download(name, type, content) {
    const url = URL.createObjectURL(new Blob([content], { type }));
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---------------------------------------------------------------- wiring

  els.analyze.addEventListener("click", analyzeText);
  els.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      analyzeText();
    }
  });
  els.file.addEventListener("change", analyzeFile);
  els.techniqueFilter.addEventListener("change", () => {
    state.highlight = els.techniqueFilter.value;
    if (state.response) render(state.response, state.source);
  });

  els.threshold.addEventListener("input", () => {
    state.override = Number(els.threshold.value);
    updateThresholdLabel();
    scheduleRerun();
  });
  els.thresholdReset.addEventListener("click", () => {
    state.override = null;
    setSlider(state.modelThreshold === null ? 0.5 : state.modelThreshold);
    scheduleRerun();
  });

  els.downloadJson.addEventListener("click", () => {
    if (state.response) download(`${fileStem()}.json`, "application/json", JSON.stringify(state.response, null, 2) + "\n");
  });
  els.downloadCsv.addEventListener("click", () => {
    if (state.response) download(`${fileStem()}.csv`, "text/csv;charset=utf-8", toCsv(state.response));
  });

  let keyTimer = null;
  try {
    els.apiKey.value = localStorage.getItem(KEY_STORAGE) || "";
  } catch (_) {
    /* storage disabled: the key lives for this page only */
  }
  els.apiKey.addEventListener("input", () => {
    const key = els.apiKey.value.trim();
    try {
      if (key) localStorage.setItem(KEY_STORAGE, key);
      else localStorage.removeItem(KEY_STORAGE);
    } catch (_) {
      /* ignore */
    }
    clearTimeout(keyTimer);
    keyTimer = setTimeout(loadModel, 400);
  });

  renderLegend();
  updateThresholdLabel();
  loadModel();
})();

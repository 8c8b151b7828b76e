// deltaprop serve: the page. It draws, sends the drawing as a PNG, and paints what the
// server's library code computed; no network arithmetic happens here, only colouring.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  model: null, strokes: [], target: null, busy: false, again: false, last: null,
  weights: new Map(), hoverUnit: null, runSignature: null, runFailed: false, run: null,
};

// -- colours ------------------------------------------------------------------------------
const NEG = [33, 102, 172], POS = [178, 24, 43], SEQ = [31, 78, 156];
function mix(c, t) { return c.map((v) => Math.round(255 + (v - 255) * t)); }
function diverging(v, scale) {
  const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
  return t < 0 ? mix(NEG, -t) : mix(POS, t);
}
// Layers whose outputs cannot be negative: their values in shades of one blue. Every other
// quantity has a sign (z, tanh, a linear output, every δ), which its colour must show: blue
// negative, red positive, even where a strip's values all have one sign (a single output's δ).
const NON_NEGATIVE = new Set(["Sigmoid", "ReLU", "Softmax"]);
function colourFor(values, signed = true) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo >= 0 && !signed) return { lo, hi, colour: (v) => mix(SEQ, hi > 0 ? v / hi : 0) };
  const scale = Math.max(Math.abs(lo), Math.abs(hi));
  return { lo, hi, colour: (v) => diverging(v, scale) };
}
const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : v.toFixed(4));

// -- images -------------------------------------------------------------------------------
function paintImage(canvas, rows, colour) {
  const h = rows.length, w = rows[0].length;
  canvas.width = w; canvas.height = h;
  canvas.style.height = h === w ? "" : "auto";  // a 20×30 image keeps its aspect ratio
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  rows.forEach((row, y) => row.forEach((v, x) => {
    const [r, g, b] = colour(v), i = 4 * (y * w + x);
    img.data[i] = r; img.data[i + 1] = g; img.data[i + 2] = b; img.data[i + 3] = 255;
  }));
  ctx.putImageData(img, 0, 0);
}
function paintDiverging(canvas, rows) {
  let scale = 0;
  for (const row of rows) for (const v of row) scale = Math.max(scale, Math.abs(v));
  paintImage(canvas, rows, (v) => diverging(v, scale));
  return scale;
}

// -- the drawing pad ----------------------------------------------------------------------
const pad = $("pad"), pen = pad.getContext("2d");
function redraw() {
  pen.fillStyle = "#fff"; pen.fillRect(0, 0, pad.width, pad.height);
  pen.strokeStyle = "#000"; pen.fillStyle = "#000"; pen.lineCap = "round"; pen.lineJoin = "round";
  pen.lineWidth = 18;
  for (const s of state.strokes) {
    pen.beginPath(); pen.moveTo(s[0][0], s[0][1]);
    if (s.length === 1) { pen.arc(s[0][0], s[0][1], 9, 0, 2 * Math.PI); pen.fill(); continue; }
    for (const [x, y] of s.slice(1)) pen.lineTo(x, y);
    pen.stroke();
  }
}
function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
}
let drawing = null, throttle = null;
pad.addEventListener("pointerdown", (e) => {
  e.preventDefault(); pad.setPointerCapture(e.pointerId);
  drawing = [padPoint(e)]; state.strokes.push(drawing); redraw();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  drawing.push(padPoint(e)); redraw();
  if (!throttle) throttle = setTimeout(() => { throttle = null; update(); }, 120);
});
const endStroke = () => { if (drawing) { drawing = null; update(); } };
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
$("clear").addEventListener("click", () => { state.strokes = []; redraw(); update(); });
$("undo").addEventListener("click", () => { state.strokes.pop(); redraw(); update(); });

// -- talking to the server ----------------------------------------------------------------
function setStatus(text, error = false) { const s = $("status"); s.textContent = text; s.classList.toggle("error", error); }
async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const res = await fetch(path, init);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}
const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i;
function formInputs() {  // the form's numbers, or null while one is empty or no number
  const fields = [...$("number-form").querySelectorAll("input")];
  const values = fields.map((f) => (NUMBER.test(f.value) ? Number(f.value) : NaN));  // 1e999: Infinity, refused below
  fields.forEach((f, i) => f.classList.toggle("bad", !Number.isFinite(values[i])));
  return values.every(Number.isFinite) ? values : null;
}
async function update() {
  if (!state.model) {  // none described yet, or its description was refused (a damaged file): ask again
    if (state.busy) { state.again = true; return; }
    state.busy = true;
    try { await loadModelInfo(); } finally { state.busy = false; }
    if (!state.model) { if (state.again) { state.again = false; } document.body.dataset.state = "idle"; return; }
  }
  const image = state.model.image_input, inputs = image ? null : formInputs();
  if (image && state.strokes.length === 0) { showBlank(); return; }
  if (!image && inputs === null) { showBlank("Give every input a number."); return; }
  if (state.busy) { state.again = true; return; }
  state.busy = true; document.body.dataset.state = "busy";
  try {
    const body = image ? { png: pad.toDataURL("image/png") } : { inputs };
    const result = await api("/api/backward", { ...body, target: state.target });
    if (result.model_version !== state.model.version) {  // the model file changed on disk: describe the new one
      await loadModelInfo();
      if (!state.model) return;
      if (result.model_version !== state.model.version || state.model.image_input !== image) { state.again = true; return; }
    }
    state.last = result; render(result);
    const pick = isRegressor() ? "enter a target value" : "pick a target class";
    setStatus(image ? `Updated as you draw; ${pick} to see its gradients.`
      : `Updated as you type; ${pick} to see its gradients.`);
  } catch (err) {
    // the file may have been replaced by another model, whose classes the target chosen for the old one
    // does not fit (a class it lacks, a regressor's value): describe the model again and, if it is
    // another, ask again with a target that fits it rather than show the refusal until a reload
    const before = state.model && state.model.version;
    await loadModelInfo();
    if (state.model && state.model.version !== before) state.again = true;
    else showBlank(err.message, true);  // no answer of an earlier input beside the refusal of this one
  } finally {
    state.busy = false;
    if (state.again) { state.again = false; update(); } else document.body.dataset.state = "idle";
  }
}
function showBlank(message, error = false) {
  state.last = null;
  $("predicted").textContent = "–"; $("confidence").textContent = ""; $("outputs-kind").textContent = "";
  $("loss").textContent = "–"; $("loss-name").textContent = "";
  $("probabilities").replaceChildren(); $("forward").replaceChildren(); $("deltas").replaceChildren();
  for (const id of ["preview", "input-grad"]) { const c = $(id); c.getContext("2d").clearRect(0, 0, c.width, c.height); }
  $("weights-box").hidden = true;
  for (const g of $("number-form").querySelectorAll(".grad")) { g.textContent = ""; g.style.background = ""; }
  setStatus(message || "Draw with the mouse, a pen or a finger.", error);
}

// -- rendering a result -------------------------------------------------------------------
// The class list shows what the model's outputs are (r.outputs): probabilities (a softmax or
// sigmoid output, or logits the server turned into them) as bars from 0 to 1 and how sure
// the model is; scores (no probabilities: squared error on a linear output, say) as the raw
// numbers, as `deltaprop predict` prints them, with bars either side of zero.
function predictionEntries(r) {
  const values = r.probabilities ?? r.scores;
  if (values.length === r.classes.length) return values.map((v, c) => [c, v]);
  return [[r.classes.length - 1, values[0]]];  // a single score is the last class's (class 1)
}
function barExtent(v, isProbability, scale) {  // [left, width] of a bar, in % of its track
  if (isProbability) return [0, 100 * Math.max(0, Math.min(1, v))];
  const width = scale > 0 ? (50 * Math.abs(v)) / scale : 0;
  return [v < 0 ? 50 - width : 50, width];
}
// A regressor (r.outputs "values") has no classes: its outputs are the predicted values,
// one a target column, shown as numbers with bars either side of zero.
const isRegressor = () => state.model !== null && state.model.outputs === "values";
const valueText = (v) => (Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-4) ? v.toExponential(4) : String(+v.toPrecision(6)));
function renderValues(r) {
  const names = r.value_names, scale = Math.max(0, ...r.values.map(Math.abs));
  $("predicted").textContent = r.values.length === 1 ? valueText(r.values[0]) : r.values.map(valueText).join(", ");
  $("confidence").textContent = r.values.length === 1 ? names[0] : names.join(", ");
  $("outputs-kind").textContent = r.values.length === 1 ? `the predicted value of ${names[0]} (a regressor: no classes)`
    : "the predicted values, one an output (a regressor: no classes)";
  const list = $("probabilities");
  list.dataset.kind = "values"; list.classList.add("scores");
  list.replaceChildren(...r.values.map((v, i) => {
    const li = document.createElement("li");
    li.dataset.name = names[i]; li.dataset.value = String(v);
    li.innerHTML = `<span class="name"></span><span class="bar"><i></i></span><span class="p"></span>`;
    li.querySelector(".name").textContent = names[i];
    const [left, width] = barExtent(v, false, scale), bar = li.querySelector("i");
    bar.style.left = `${left.toFixed(2)}%`; bar.style.width = `${width.toFixed(2)}%`;
    bar.classList.toggle("neg", v < 0);
    li.querySelector(".p").textContent = valueText(v);
    return li;
  }));
}
function renderPrediction(r) {
  if (r.outputs === "values") { renderValues(r); return; }
  const isProbability = r.probabilities !== null && r.probabilities !== undefined, name = (c) => r.classes[c];
  const entries = predictionEntries(r).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const scale = Math.max(0, ...entries.map(([, v]) => Math.abs(v)));
  // a single score is class 1's; it decides by a threshold, not by being the largest
  const single = !isProbability && entries.length === 1 && r.classes.length === 2;
  const top = single ? entries[0] : entries.find(([c]) => c === r.predicted);
  $("predicted").textContent = name(r.predicted);
  $("confidence").textContent = !top ? "" : isProbability ? `${(100 * top[1]).toFixed(1)}% sure` : `score ${top[1].toFixed(4)}`;
  // a single output decided at another probability than 0.5: the class shown may have the smaller one
  const at = state.model.threshold_probability, skewed = isProbability && at != null && Math.abs(at - 0.5) > 1e-12;
  $("outputs-kind").textContent = skewed ? `probabilities; this model decides ${name(1)} where its probability is at `
      + `least ${+at.toPrecision(4)} (its decision threshold), not 0.5, so the class shown may have the smaller probability`
    : isProbability ? "probabilities"
    : single ? `a score: the network's raw output, class ${name(1)} at ${state.model.threshold} or more, else ${name(0)}; it is not a probability`
    : "scores: the network's raw outputs (the largest is the class); they are not probabilities";
  const list = $("probabilities");
  list.dataset.kind = isProbability ? "probabilities" : "scores";
  list.classList.toggle("scores", !isProbability);
  list.replaceChildren(...entries.map(([c, v]) => {
    const li = document.createElement("li");
    li.dataset.class = name(c); li.dataset.p = v.toFixed(4);
    li.classList.toggle("target", c === r.target);
    li.innerHTML = `<span class="name"></span><span class="bar"><i></i></span><span class="p"></span>`;
    li.querySelector(".name").textContent = name(c); li.querySelector(".name").title = name(c);
    const [left, width] = barExtent(v, isProbability, scale), bar = li.querySelector("i");
    bar.style.left = `${left.toFixed(2)}%`; bar.style.width = `${width.toFixed(2)}%`;
    bar.classList.toggle("neg", v < 0);
    li.querySelector(".p").textContent = v.toFixed(4);
    li.title = "use as the target class";
    li.addEventListener("click", () => chooseTarget(c));
    return li;
  }));
}
function render(r) {
  const name = (c) => r.classes[c];
  if (state.model.image_input) {
    paintImage($("preview"), r.input, (v) => [v, v, v]);
    paintDiverging($("input-grad"), r.input_gradient);
  } else {
    showFormGradient(r.input_gradient);
  }
  renderPrediction(r);
  $("loss").textContent = fmt(r.loss);
  if (r.outputs === "values") {
    const given = Array.isArray(state.target) && state.target.some((v) => v !== null);
    $("loss-name").textContent = `for target ${r.target.map(valueText).join(", ")}${given ? "" : " (the prediction)"} (${state.model.loss})`;
    renderValueTargets(r);
  } else {
    const auto = state.target === null ? ", the predicted class (auto)" : "";  // which target: said, not left to guess
    $("loss-name").textContent = `for target ${name(r.target)}${auto} (${state.model.loss})`;
    renderTargets(r);
  }
  renderStrips($("forward"), r.layers, "output");
  renderStrips($("deltas"), r.layers, "delta");
}
function renderTargets(r) {
  const box = $("targets");
  const buttons = [["auto", null], ...r.classes.map((n, c) => [n, c])].map(([label, c]) => {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.dataset.target = c === null ? "auto" : String(c);
    b.classList.toggle("active", c === state.target);
    b.addEventListener("click", () => chooseTarget(c));
    return b;
  });
  box.replaceChildren(...buttons);
}
function chooseTarget(c) { state.target = c; update(); }
// A regressor's target: a field an output, empty for "the prediction" (its own output as
// the target: the loss is 0, and so are every δ and ∂L/∂x).
function renderValueTargets(r) {
  const box = $("targets");
  if (box.dataset.version !== state.model.version) {  // built once a model, so typing keeps its focus
    box.dataset.version = state.model.version;
    box.replaceChildren(...r.value_names.map((name, i) => {
      const label = document.createElement("label"), input = document.createElement("input");
      label.className = "value-target"; label.append(`target ${name} `, input);
      input.type = "text"; input.inputMode = "decimal"; input.name = name; input.dataset.index = i;
      input.addEventListener("input", () => {
        const values = [...box.querySelectorAll("input")].map((f) => (f.value.trim() === "" ? null
          : NUMBER.test(f.value) && Number.isFinite(Number(f.value)) ? Number(f.value) : NaN));
        box.querySelectorAll("input").forEach((f, j) => f.classList.toggle("bad", Number.isNaN(values[j])));
        if (values.some(Number.isNaN)) { setStatus("Give the target a number, or leave it empty for the prediction.", true); return; }
        state.target = values.every((v) => v === null) ? null : values;
        if (!throttle) throttle = setTimeout(() => { throttle = null; update(); }, 120);
      });
      return label;
    }));
  }
  box.querySelectorAll("input").forEach((f, i) => { f.placeholder = valueText(r.values[i]); });
  const given = Array.isArray(state.target) && state.target.some((v) => v !== null);
  $("target-note").textContent = given ? "Target value for the loss (an empty field: that output's prediction):"
    : "Target value for the loss. Empty, the target is the prediction itself: the loss is 0, and so are every δ and ∂L/∂x below. Enter the value the model should give to see how it would learn it:";
}

function layerLabel(layer, field) {
  const m = state.model.layers.find((l) => l.index === layer.index);
  if (field === "output") return layer.type === "Dense" ? `${m.name}: z = xW + b` : `${layer.type}: a`;
  return layer.type === "Dense" ? `${m.name}: δ = ∂L/∂z` : `${layer.type}: ∂L/∂a`;
}
function renderStrips(box, layers, field) {
  // layers before the first Dense one only prepare the input (the preview shows it)
  const firstDense = layers.findIndex((l) => l.type === "Dense");
  const lastDense = layers.filter((l) => l.type === "Dense").pop().index;
  const rows = layers.slice(firstDense).map((layer) => {
    const values = layer[field], div = document.createElement("div");
    div.className = "strip"; div.dataset.layer = layer.index;
    const label = document.createElement("div"); label.className = "label";
    label.innerHTML = "<b></b><span></span>";
    label.querySelector("b").textContent = layerLabel(layer, field);
    div.append(label);
    if (values === null || values === undefined) {
      label.querySelector("span").textContent = "";
      const note = document.createElement("div"); note.className = "empty";
      note.textContent = "joined with the loss: backpropagation starts at the layer below with δ = a − y";
      div.append(note); return div;
    }
    const { lo, hi, colour } = colourFor(values, field === "delta" || !NON_NEGATIVE.has(layer.type));
    label.querySelector("span").textContent = `${values.length} unit${values.length === 1 ? "" : "s"}, ${fmt(lo)} … ${fmt(hi)}`;
    const outputNames = state.last && (state.last.outputs === "values" ? state.last.value_names : state.last.classes);
    // a single output of two classes is class 1's (its probability or score): named so
    const single = Boolean(outputNames) && values.length === 1 && state.last.outputs !== "values" && outputNames.length === 2;
    const classes = outputNames && layer.index >= lastDense && (values.length === outputNames.length || single)
      ? (single ? [outputNames[1]] : outputNames) : null;
    const canvas = stripCanvas(values, colour, box.clientWidth || 400, classes);
    canvas.dataset.layer = layer.index;
    div.append(canvas);
    const hoverWeights = field === "output" && layer.index === layers[firstDense].index && state.model.image_input;
    if (hoverWeights) div.classList.add("hoverable");
    attachTip(canvas, values, hoverWeights, classes);
    return div;
  });
  box.replaceChildren(...rows);
}
// What each output cell is labelled with: its class's (or output's) name, short. Names that start
// alike (class_0 ... class_19) lose what they share first, so no two cells read the same; where
// their first three letters still do, each cell shows its number, as the tip names it.
function cellLabels(names) {
  if (!names) return null;
  let common = 0;
  while (names.length > 1 && names.every((n) => n.length > common + 1 && n[common] === names[0][common])) common += 1;
  const short = names.map((n) => n.slice(common, common + 3));
  return new Set(short).size === names.length ? short : names.map((_, i) => String(i));
}
function stripCanvas(values, colour, width, labels) {
  // a very wide layer (thousands of units) as a block of 6 px cells the card's width, not a column a screen high
  const n = values.length, cols = n <= 20 ? n : n <= 100 ? 25 : n <= 1024 ? 32 : Math.max(32, Math.floor(width / 6));
  const cell = Math.max(6, Math.min(34, Math.floor(width / cols)));
  const canvas = document.createElement("canvas");
  canvas.width = cols * cell + 1; canvas.height = Math.ceil(n / cols) * cell + 1;  // + 1: the grid's left and top line
  canvas.dataset.cols = cols; canvas.dataset.cell = cell;
  const ctx = canvas.getContext("2d");
  labels = cellLabels(labels);
  ctx.fillStyle = "#d5d9e0";  // the 1 px lines around cells: a row of zeros (white cells) reads as cells, not as nothing
  for (let i = 0; i < n; i += cols) ctx.fillRect(0, Math.floor(i / cols) * cell, Math.min(cols, n - i) * cell + 1, cell + 1);
  values.forEach((v, i) => {
    const [r, g, b] = colour(v);
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect((i % cols) * cell + 1, Math.floor(i / cols) * cell + 1, cell - 1, cell - 1);
    if (labels && cell >= 18) {  // output units: name each cell after its class
      ctx.fillStyle = r * 0.3 + g * 0.6 + b * 0.1 < 140 ? "#fff" : "#1d2330";
      ctx.font = `${Math.round(cell * 0.42)}px system-ui, sans-serif`;
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText(labels[i], (i % cols) * cell + cell / 2 + 0.5, Math.floor(i / cols) * cell + cell / 2 + 0.5);
    }
  });
  return canvas;
}
function unitAt(canvas, e, n) {
  const r = canvas.getBoundingClientRect(), cell = Number(canvas.dataset.cell), cols = Number(canvas.dataset.cols);
  const col = Math.floor((e.clientX - r.left) / cell), row = Math.floor((e.clientY - r.top) / cell);
  const i = row * cols + col;
  return col >= 0 && col < cols && i >= 0 && i < n ? i : null;
}
function attachTip(canvas, values, hoverWeights, names = null) {
  const tip = $("tip");
  canvas.addEventListener("mousemove", (e) => {
    const i = unitAt(canvas, e, values.length);
    if (i === null) { tip.hidden = true; return; }
    tip.textContent = `unit ${i}${names ? ` (${names[i]})` : ""}: ${fmt(values[i])}`;
    tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`; tip.hidden = false;
    if (hoverWeights && i !== state.hoverUnit) showWeights(i);
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
}
// The unit a column of the first Dense layer's W feeds: a hidden unit, or, for a model with no
// hidden layer (a linear or logistic model), an output, named as its class or value.
function weightsUnit(unit) {
  const dense = state.model.layers.filter((l) => l.type === "Dense");
  if (dense.length > 1) return `hidden unit ${unit} of the first layer`;
  const m = state.model, names = m.outputs === "values" ? m.value_names : m.classes;
  const name = m.outputs !== "values" && dense[0].units === 1 ? names[1] : names[unit];  // one output: class 1's
  return `output unit ${unit}${name === undefined ? "" : ` (${name})`}, as the model has no hidden layer`;
}
async function showWeights(unit) {
  state.hoverUnit = unit;
  try {
    let w = state.weights.get(unit);
    if (!w) {
      w = await api(`/api/weights?unit=${unit}`);
      if (!state.model || w.model_version !== state.model.version) {  // the file changed since the pass shown:
        await loadModelInfo(); update(); return;                        // describe and draw the new model first
      }
      state.weights.set(unit, w);
    }
    if (state.hoverUnit !== unit) return;
    const scale = paintDiverging($("weights"), w.weights);
    $("weights-label").textContent = `weights into ${weightsUnit(unit)} (bias ${fmt(w.bias)}, |w| ≤ ${fmt(scale)}); red adds to z, blue subtracts`;
    $("weights-box").hidden = false;
  } catch (err) { setStatus(err.message, true); }
}

// -- the training run ---------------------------------------------------------------------
const COLOURS = { loss: "#2f5fd0", val_loss: "#e07b00", accuracy: "#2f5fd0", val_accuracy: "#e07b00", lr: "#6a3fb5" };
function niceStep(lo, hi, n) {
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0 * (1 - 1e-9));
}
function niceTicks(lo, hi, n = 4) {  // ticks inside [lo, hi]
  if (!(hi > lo)) return [lo];
  const step = niceStep(lo, hi, n), ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(10));
  return ticks;
}
function niceDomain(lo, hi, n = 4, floor = -Number.MAX_VALUE) {  // ticks that enclose [lo, hi]
  // a constant: a range around it, within the finite numbers (1.7e308 ± half of it is no number) and down
  // to floor at most (0 for values of 0 or more: a share of units stuck at 0 on an axis from 0, not from -1)
  if (!(hi > lo)) { const pad = Math.abs(lo) / 2 || 1; lo = Math.max(lo - pad, floor); hi = Math.min(hi + pad, Number.MAX_VALUE); }
  const ticks = [];
  if (Number.isFinite(hi - lo)) {
    const step = niceStep(lo, hi, n);
    for (let t = Math.floor(lo / step) * step; t < hi + step * (1 - 1e-9); t += step) ticks.push(+t.toPrecision(10));
  }
  const tol = (hi - lo) * 1e-6;  // a tick rounded to 10 digits may lie a hair inside an end
  if (ticks.length >= 2 && ticks.every(Number.isFinite) && ticks[0] <= lo + tol && ticks[ticks.length - 1] >= hi - tol) return ticks;
  // ends near ±1.8e308 (a diverging run's): round steps overflow, so n + 1 evenly spaced values from lo to hi
  return Array.from({ length: n + 1 }, (_, k) => lo * (1 - k / n) + hi * (k / n));
}
// Where y lies from y0 (0) to y1 (1); halved first where y1 − y0 overflows (ends either side of ±9e307).
function fraction(y, y0, y1) {
  if (Number.isFinite(y1 - y0)) return y1 > y0 ? (y - y0) / (y1 - y0) : 0;
  return (y / 2 - y0 / 2) / (y1 / 2 - y0 / 2);
}
function svg(tag, attrs, parent) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.append(el);
  return el;
}
// The points a series hovers (each a circle with its exact value): every one up to
// MAX_MARKERS, else evenly thinned ones with the first, the last, the lowest, the highest and
// those of the marked epochs (an alert's, the model's), so a long run's page stays light.
// The line itself still passes through every point.
const MAX_MARKERS = 1000;
function hovered(points, marked) {
  const n = points.length, all = points.map((_, i) => i);
  if (n <= MAX_MARKERS) return all;
  let lo = 0, hi = 0;
  const keep = new Set([0, n - 1]);
  points.forEach((p, i) => {
    if (p[1] < points[lo][1]) lo = i;
    if (p[1] > points[hi][1]) hi = i;
    if (marked.has(p[0])) keep.add(i);
  });
  keep.add(lo); keep.add(hi);
  const step = Math.ceil(n / Math.max(1, MAX_MARKERS - keep.size));
  for (let i = 0; i < n; i += step) keep.add(i);
  return [...keep].sort((a, b) => a - b);
}
function lineChart(title, series, { width = 360, height = 190, log = false, marked = new Set() } = {}) {
  const wrap = document.createElement("div"); wrap.className = "chart"; wrap.dataset.title = title;
  const head = document.createElement("div"); head.className = "title"; head.textContent = log ? `${title} (log scale)` : title; wrap.append(head);
  const ty = log ? (v) => Math.log10(v) : (v) => v;
  // no trailing zeros ("0.5", "3e+37", "2.5e+37"), and the left margin as wide as the longest label
  // a log axis's tick between decades (10^-1.8) as its value, 1.6e-2, not 2e-2 (10^-1.7): two digits
  const logText = (t) => (10 ** t).toExponential(Math.abs(t - Math.round(t)) < 1e-9 ? 0 : 1).replace(/\.0e/, "e");
  const tickText = log ? logText : (t) => fmt(t).replace(/\.?0+(e|$)/, "$1");
  // a point whose value is null (no finite number: NaN or infinite in the file) breaks the line there;
  // points and raw hold the others, the ones drawn and hovered
  series = series.map((s) => {
    const all = s.points.map(([x, y]) => [x, y === null ? null : ty(y)]), kept = s.points.map((_, i) => i).filter((i) => all[i][1] !== null);
    return { ...s, all, raw: kept.map((i) => s.points[i]), points: kept.map((i) => all[i]) };
  });
  const pts = series.flatMap((s) => s.points);
  if (pts.length === 0) return null;
  let x0 = Infinity, x1 = -Infinity, lo = Infinity, hi = -Infinity;  // a loop: Math.min(...) of many points overflows the stack
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); lo = Math.min(lo, y); hi = Math.max(hi, y); }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }  // one epoch: centred, not at the left end of an axis running to the next
  const yt = niceDomain(lo, hi, 4, !log && lo >= 0 ? 0 : -Number.MAX_VALUE), y0 = yt[0], y1 = yt[yt.length - 1];
  const L = Math.max(46, 12 + 6 * Math.max(...yt.map((t) => tickText(t).length)));
  const R = 10, T = 8, B = 24, W = width - L - R, H = height - T - B;
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * W, sy = (y) => T + H - fraction(y, y0, y1) * H;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}` });
  for (const t of yt) {
    svg("line", { x1: L, x2: L + W, y1: sy(t), y2: sy(t), stroke: "#eceef2" }, root);
    svg("text", { x: L - 6, y: sy(t) + 3.5, "text-anchor": "end" }, root).textContent = tickText(t);
  }
  for (const t of niceTicks(x0, x1, 5).filter((t) => Number.isInteger(t))) {  // one at the right end ends there, not cut off
    const anchor = sx(t) + 4 * String(t).length > width ? "end" : "middle";
    svg("text", { x: sx(t), y: T + H + 15, "text-anchor": anchor }, root).textContent = t;
  }
  svg("line", { x1: L, x2: L + W, y1: T + H, y2: T + H, stroke: "#b8bec9" }, root);
  for (const s of series) {
    if (s.points.length === 0) continue;
    let d = "", pen = "M";
    for (const p of s.all) {
      if (p[1] === null) { pen = "M"; continue; }
      d += `${pen}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`; pen = "L";
    }
    svg("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }, root);
    hovered(s.points, marked).forEach((i) => {
      const p = s.points[i];
      const c = svg("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: s.colour, class: "point", "data-series": s.name }, root);
      svg("title", {}, c).textContent = `${s.name}, epoch ${p[0]}: ${fmt(s.raw[i][1])}`;
    });
  }
  wrap.append(root);
  const drawn = series.filter((s) => s.points.length > 0);
  if (drawn.length > 1) {
    const legend = document.createElement("div"); legend.className = "legend";
    for (const s of drawn) {
      const item = document.createElement("span"); item.innerHTML = "<i></i>";
      item.querySelector("i").style.background = s.colour; item.append(s.name); legend.append(item);
    }
    wrap.append(legend);
  }
  return wrap;
}
// A column's points; a record whose value is null (empty, or NaN or infinite in the file: no JSON number)
// gives a null, where the line breaks, not a line drawn across epochs that hold no number.
// the learning rate on a log axis where every rate is above 0 and the largest is over RATE_LOG_SPAN times the
// smallest (two decades, as the report's): an exponential decay from 0.1 to 1e-5 on a linear axis lies on 0 late on
const RATE_LOG_SPAN = 100;
function rateOnLogAxis(points) {
  let lo = Infinity, hi = -Infinity;  // a loop: Math.min(...) of many points overflows the stack
  for (const [, y] of points) if (y !== null) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  return lo > 0 && lo !== Infinity && hi > RATE_LOG_SPAN * lo;
}
function column(records, key) {
  return records.filter((r) => typeof r.epoch === "number" && (typeof r[key] === "number" || r[key] === null))
    .map((r) => [r.epoch, r[key]]);
}
function renderRun(run) {
  const h = run.history;
  $("run-title").textContent = `Run ${run.run}`;
  $("run-epochs").textContent = run.epochs === null ? "?" : String(run.epochs);  // null: history.csv unreadable
  const last = h[h.length - 1];
  // history.csv's loss is the training loss: the mean over the epoch's batches as it trained
  const tail = last ? `, last loss ${fmt(last.loss)} (train)${typeof last.val_accuracy === "number" ? `, validation accuracy ${fmt(last.val_accuracy)}` : ""}` : "";
  // a run that ended otherwise than done says how (run.json's status), not "finished"
  // a diverged run's history ends at the last epoch it finished: say where it diverged (run.json's diverged)
  const where = !run.diverged ? "" : ` in epoch ${run.diverged.epoch} (step ${run.diverged.step}); `
    + (h.length === 0 && run.epochs === 0 ? "no epoch finished, so there are no curves" : "the curves end at the last epoch it finished");
  const ended = { diverged: `diverged${where}`, interrupted: "interrupted", failed: "stopped: a file could not be written" };
  const gone = "stopped without recording how (its run.json says training, but its process is gone)";
  const phase = run.training === true ? " · training…"
    : run.training === false ? ` · ${ended[run.status] || (run.status === "training" ? gone : "finished")}` : "";
  // the model the Draw view shows may hold an earlier epoch's weights (early stopping's best) than the curves' last
  const m = state.model, older = run.training === false && m && typeof m.epoch === "number" && last && m.epoch < last.epoch;
  const kept = older ? ` · the model (the Draw view's) holds the weights of epoch ${m.epoch}, not of the last epoch` : "";
  $("run-status").lastChild.textContent = ` epochs${tail}${phase}${kept}`;
  $("run-badge").textContent = run.training ? `epoch ${run.epochs}…` : "";
  const marked = markedEpochs(run), opts = { marked };
  const charts = [
    lineChart("loss", ["loss", "val_loss"].map((k) => ({ name: k.replace("_", " "), colour: COLOURS[k], points: column(h, k) })), opts),
    lineChart("accuracy", ["accuracy", "val_accuracy"].map((k) => ({ name: k.replace("_", " "), colour: COLOURS[k], points: column(h, k) })), opts),
    lineChart("learning rate", [{ name: "lr", colour: COLOURS.lr, points: column(h, "lr") }], { ...opts, log: rateOnLogAxis(column(h, "lr")) }),
  ].filter(Boolean);
  $("curves").replaceChildren(...charts);
  // a table the server cannot read (too big, say) is said, with its download, not left out as if never written
  const unread = RUN_TABLES.filter((t) => run[`${t}_error`]).map((t) => `${t}.csv is not drawn: ${run[`${t}_error`]}.`);
  $("run-files").hidden = h.length === 0 && !Array.isArray(run.diagnostics) && unread.length === 0;
  // a link only to a file the run folder holds (a run that diverged in its first epoch wrote no history.csv)
  const hasHistory = run.history_rows > 0 || run.history_digest != null || Boolean(run.history_error);
  $("history-file-item").hidden = !hasHistory; $("files-comma").hidden = !hasHistory;
  $("diagnostics-file-item").hidden = !Array.isArray(run.diagnostics) && !run.diagnostics_error;
  $("run-thinned").textContent = [thinnedNote(run), ...unread].filter(Boolean).join(" ");
  renderDiagnostics(run, marked);
  renderAlerts(run.alerts);
}
// What a thinned series leaves out, said beside the curves (run.*_thinned: rows not sent).
function thinnedNote(run) {
  const parts = [];
  if (run.history_thinned > 0) parts.push(`its curves from ${run.history.length} of its ${run.epochs} epochs`);
  if (run.diagnostics_thinned > 0) parts.push(`its diagnostics from ${run.diagnostics.length} of their ${run.diagnostics.length + run.diagnostics_thinned} rows`);
  return parts.length === 0 ? "" : `This long run draws ${parts.join(", and ")}: of each short stretch of epochs, the first, `
    + "the last, and the lowest and highest value of each column, so its lowest, highest and last values are all drawn.";
}
const PALETTE = ["#2f5fd0", "#e07b00", "#2a9d5b", "#b2182b", "#6a3fb5", "#0f8b9c", "#8c6d1f", "#d6408f"];
const LOG_METRICS = new Set(["delta_norm", "grad_norm", "norm", "update_ratio"]);
const NOT_METRICS = new Set(["epoch", "probe_size", "layer", "name", "type", "identical_units"]);
// The epochs the page names: each alert's and that of the weights the model holds.
function markedEpochs(run) {
  const epochs = new Set((Array.isArray(run.alerts) ? run.alerts : []).map((a) => a && a.epoch).filter((e) => typeof e === "number"));
  if (state.model && typeof state.model.epoch === "number") epochs.add(state.model.epoch);
  return epochs;
}
// The probe's accuracy and loss are the whole network's, one value an epoch that diagnostics.csv
// writes on each of the epoch's rows: one line, not one a layer (each the same, named after a layer).
const WHOLE_NETWORK = new Set(["probe_accuracy", "probe_loss"]);
function networkChart(rows, metric, marked) {
  const byEpoch = new Map();
  for (const r of rows) {
    if (typeof r.epoch === "number" && typeof r[metric] === "number" && !byEpoch.has(r.epoch)) byEpoch.set(r.epoch, r[metric]);
  }
  const points = [...byEpoch].sort((a, b) => a[0] - b[0]), name = metric.replace("_", " ");
  return lineChart(`${name} (the whole network's)`, [{ name, colour: PALETTE[0], points }], { width: 330, height: 170, marked });
}
function renderDiagnostics(run, marked = new Set()) {
  // diagnostics.csv has one row per epoch and layer (name layers.i) or parameter (layers.i.W):
  // one small chart per statistic, one line per layer or parameter.
  const rows = run.diagnostics || [];
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => !NOT_METRICS.has(k));
  const charts = [];
  for (const metric of metrics) {
    if (WHOLE_NETWORK.has(metric)) { charts.push(networkChart(rows, metric, marked)); continue; }
    const names = [...new Set(rows.filter((r) => typeof r[metric] === "number").map((r) => r.name))];
    if (names.length === 0) continue;
    const series = names.map((name, i) => {
      const own = rows.filter((r) => r.name === name);
      const label = own[0].type && own[0].type !== "parameter" ? `${name} ${own[0].type}` : String(name);
      return { name: label, colour: PALETTE[i % PALETTE.length], points: column(own, metric) };
    });
    const log = LOG_METRICS.has(metric) && series.every((s) => s.points.every((p) => p[1] === null || p[1] > 0));
    charts.push(lineChart(metric.replace("_", " "), series, { width: 330, height: 170, log, marked }));
  }
  $("diagnostics-card").hidden = charts.length === 0;
  $("diagnostics").replaceChildren(...charts.filter(Boolean));
}
function renderAlerts(alerts) {
  $("alerts-card").hidden = !alerts || alerts.length === 0;
  if (!alerts) return;
  $("alerts").replaceChildren(...alerts.map((a) => {
    const li = document.createElement("li");
    if (typeof a !== "object" || a === null) { li.textContent = String(a); return li; }
    const rule = document.createElement("span"); rule.className = "rule";
    rule.textContent = `${a.rule || "alert"}${a.layer !== null && a.layer !== undefined ? ` (layer ${a.layer})` : ""}, epoch ${a.epoch ?? "?"}: `;
    li.append(rule, a.evidence || a.message || "", a.fix ? `. Fix: ${a.fix}` : "");
    if (a.standing) {
      const standing = document.createElement("span"); standing.className = "standing";
      standing.textContent = ` (${a.standing})`; li.append(standing);
    }
    return li;
  }));
}
// The tables the page keeps and asks only the newer rows of: ?history=N:DIGEST says it holds
// the file's first N rows (history_rows), given with that digest; the server sends the rows
// after them (history_from: N) while the file still starts with them, else all of them (0: a
// run replaced or rewritten). A long series comes thinned (history_thinned rows left out: each
// stretch's first, last, lowest and highest are kept); once the rows added since the last
// whole answer outnumber it (and 2000), the page asks for all of it again, thinned anew, so
// what it holds and draws stays bounded however long it follows a run.
const RUN_TABLES = ["history", "diagnostics"];
function runQuery() {
  if (!state.runSignature || state.runFailed || !state.run) return "";  // the first time, and after a failure: all of it
  const held = RUN_TABLES.filter((t) => Array.isArray(state.run[t]) && state.run[`${t}_digest`]
      && typeof state.run[`${t}_rows`] === "number" && state.run[t].length <= 2 * (state.run[`${t}_whole`] || 0) + 2000)
    .map((t) => `&${t}=${state.run[`${t}_rows`]}:${state.run[`${t}_digest`]}`);
  return `?since=${state.runSignature}${held.join("")}`;
}
function mergeRun(run) {
  for (const t of RUN_TABLES) {
    const from = run[`${t}_from`] || 0;
    if (from === 0) { run[`${t}_whole`] = Array.isArray(run[t]) ? run[t].length : 0; continue; }
    const kept = state.run;
    if (!kept || !Array.isArray(kept[t]) || kept[`${t}_rows`] !== from || !Array.isArray(run[t])) throw new Error(`the ${t} sent does not follow the rows held`);
    run[t] = kept[t].concat(run[t]);
    run[`${t}_thinned`] = (kept[`${t}_thinned`] || 0) + (run[`${t}_thinned`] || 0);
    run[`${t}_whole`] = kept[`${t}_whole`];
    run[`${t}_from`] = 0;
  }
  return run;
}
async function pollRun() {
  try {
    const run = await api(`/api/run${runQuery()}`);
    if (state.runFailed) { state.runFailed = false; $("run-status").classList.remove("error"); }
    if (!run.unchanged) {
      const first = state.runSignature === null;
      state.run = mergeRun(run); state.runSignature = run.signature; renderRun(run);
      if (!first) { await loadModelInfo(); if (state.strokes.length || (state.model && !state.model.image_input)) update(); }
    }
  } catch (err) {  // said until a later poll answers (the server restarted, say), not left red for good
    state.runFailed = true;
    $("run-status").classList.add("error");
    $("run-status").lastChild.textContent = ` epochs · ${err.message}`;
  }
  setTimeout(pollRun, 1000);
}

// -- a model that takes no image: a form of numbers ------------------------------------
// One field a model input, named as the model's training file named its columns; each starts
// at the training data's mean where the model standardises its inputs (else 0). The values
// go to the server as they are, as the training file held them; the model's input scaling
// is applied there.
// The pad of a model of h×w grey images (image_grid) has their aspect ratio, its longer side 280
// pixels (280×280 for a square model); a drawing of another shape than the last is cleared.
function shapePad(m) {
  const [h, w] = m.image_grid || [28, 28], long = Math.max(h, w);
  const width = Math.round(280 * w / long), height = Math.round(280 * h / long);
  if (pad.width === width && pad.height === height) return;
  pad.width = width; pad.height = height;
  pad.style.width = `${width}px`; pad.style.height = `${height}px`;
  state.strokes = []; redraw();
}
function showInputs(m, changed) {
  if (m.image_input) shapePad(m);
  $("drawing").hidden = !m.image_input; $("sees").hidden = !m.image_input;
  $("numbers").hidden = m.image_input; $("grad-image").hidden = !m.image_input;
  $("grad-title").textContent = m.image_input ? "∂L/∂x: which pixels would change the answer"
    : "∂L/∂x: how each input would change the loss (beside each input; negative: raising it lowers the loss)";
  if (m.image_input || (!changed && $("number-form").children.length === m.n_features)) return;
  // images of colour (14×14 of 4 channels): said, and given as numbers
  const taken = m.input_words && !m.input_words.startsWith("rows")
    ? `${m.input_words}, flattened to ${m.n_features} numbers in that axis order, which the pad (gray images) cannot draw`
    : `${m.n_features} numbers, not a gray image (which the pad draws)`;
  $("numbers-note").textContent = `This model takes ${taken}: give them as its training data held them` +
    (m.input_scaling !== "none" ? ` (its input scaling, ${m.input_scaling}, is applied to them).` : ".") +
    (m.feature_means ? " Each starts at its mean in the training data." : "");
  const fields = m.features.map((name, i) => {
    const label = document.createElement("label"), input = document.createElement("input"), grad = document.createElement("span");
    input.type = "text"; input.inputMode = "decimal"; input.name = name; input.dataset.index = i;
    input.value = String(m.feature_means ? +m.feature_means[i].toPrecision(6) : 0);
    input.addEventListener("input", () => { if (!throttle) throttle = setTimeout(() => { throttle = null; update(); }, 120); });
    grad.className = "grad"; grad.dataset.index = i;
    label.append(name, input, grad);
    return label;
  });
  $("number-form").replaceChildren(...fields);
  $("number-form").onsubmit = (e) => { e.preventDefault(); update(); };
}
function showFormGradient(values) {
  let scale = 0;
  for (const v of values) scale = Math.max(scale, Math.abs(v));
  for (const g of $("number-form").querySelectorAll(".grad")) {
    const v = values[Number(g.dataset.index)], [r, gr, b] = diverging(v, scale);
    g.textContent = `∂L/∂x ${fmt(v)}`; g.style.background = `rgb(${r},${gr},${b})`;
    g.style.color = Math.abs(v) > scale / 2 ? "#fff" : "";
  }
}

// -- start --------------------------------------------------------------------------------
function showView(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === name);
  $("draw-view").hidden = name !== "draw"; $("run-view").hidden = name !== "run";
}
// How the server made the drawing into the model's 28x28 inputs (GET /api/model's
// image_style: the style of the model's training data, as deltaprop predict reads images).
const STYLE_NOTES = {
  "digit": "Cropped to the ink, fitted in 20×20, centred by mass in 28×28",
  "fashion": "Trimmed to the drawing, its longer side fitted to 28 pixels, centred, gray levels kept (Fashion-MNIST's style)",
  "as-is": "Only resized to 28×28",
};
// A model of smaller square images (8x8 digits, say) gets digits framed as small digits are
// (images.to_digit_frame) and other styles' 28x28 image reduced to its side, each pixel the
// mean of the area it covers; its levels are scaled to the model's.
function showStyle(style, m) {
  const code = document.createElement("code"); code.textContent = "deltaprop predict";
  const grid = m && m.image_input && !m.image_side ? m.image_grid : null;  // h×w grey images, not square
  if (grid) {
    $("preview-note").replaceChildren(`Its pixels as they are (dark ink on white), resized to ${grid[0]}×${grid[1]} (each pixel `
      + `the mean of the area it covers), not framed as a digit: the same code as `, code, ` runs on an image file for this model`
      + (m.levels_top !== 255 ? `; its 0..255 levels reach the model as 0..${m.levels_top}.` : "."));
    $("preview").setAttribute("aria-label", `${grid[0]} by ${grid[1]} input`);
    return;
  }
  const side = m && m.image_side, small = side && side !== 28;
  const framed = small && (style || "digit") === "digit";
  const reduced = small && !framed ? `, then reduced to ${side}×${side} (each pixel the mean of the area it covers)` : "";
  const lead = framed
    ? `Framed as ${side}×${side} digits are (the ink's longer edge fills a ${4 * side}×${4 * side} frame, centred; each pixel the mean of a 4×4 block)`
    : (STYLE_NOTES[style] || STYLE_NOTES.digit);
  const levels = m && m.image_input && m.levels_top !== 255 ? `; its 0..255 levels reach the model as 0..${m.levels_top}` : "";
  // a file that does not record its training inputs' range: say the levels it gets, never a silent guess
  const unknown = m && m.image_input && m.levels_known === false
    ? ` The model file does not record the range of its training inputs (no input scaling: trained with --scaling none, `
      + `or saved without it), so its inputs are the drawing's 0..${m.levels_top} levels as they are; a model trained on `
      + `other levels (0..16, 0..1) answers wrongly here.` : "";
  // a model trained on a data file: how its images were made is not known, and the drawing style is assumed
  const assumed = m && m.image_input && m.image_style_known === false
    ? ` The model was trained on a data file, which does not say how its images were made into inputs: this style is `
      + `assumed, as deltaprop predict --images ${style || "digit"} reads images for it, and a model of images made `
      + `otherwise (Fashion-MNIST's, say) answers wrongly here.` : "";
  // a file that does not record its inputs' shape: the square gray image is a guess, said so
  const guessed = m && m.image_input && !m.input_shape
    ? ` The model file does not record the shape of its inputs, so taking its ${m.n_features} inputs for a ${side}×${side} `
      + `gray image is a guess: a model of other images of as many values (14×14 of 4 channels, say) answers wrongly here `
      + `(deltaprop train --input-shape H,W[,C], or save(..., input_shape=...), records the shape).`
    : "";
  $("preview-note").replaceChildren(`${lead}: the same code as `, code, `${reduced}${levels}.${unknown}${assumed}${guessed}`);
  $("preview").setAttribute("aria-label", `${side || 28} by ${side || 28} input`);
}
// What the pad asks for: a digit where the model's classes are the digits (or it is a regressor of
// digit-style images), else an image (a Fashion-MNIST model's classes are clothes, not digits).
function drawTitle(m) {
  const digits = m.outputs === "values" ? (m.image_style || "digit") === "digit" : m.classes.every((c) => /^[0-9]$/.test(c));
  return digits ? "Draw a digit" : "Draw an image";
}
async function loadModelInfo() {
  try {
    const m = await api("/api/model");
    if (!m.ready) {
      state.model = null;
      $("model-info").textContent = m.message; setStatus(m.message);
      return { run: m.run };
    }
    const changed = !state.model || state.model.version !== m.version;
    if (changed) {  // another model: its weights, and maybe fewer classes, or values instead
      state.hoverUnit = null; $("weights-box").hidden = true;
      if (m.outputs === "values" || (state.model && state.model.outputs === "values")) state.target = null;
      else if (state.target !== null && !(Number.isInteger(state.target) && state.target < m.classes.length)) state.target = null;
      if (m.outputs !== "values") {
        $("target-note").innerHTML = "Target class for the loss (click a class; <em>auto</em> is the prediction):";
        delete $("targets").dataset.version;
      }
    }
    state.model = m;
    $("draw-title").textContent = drawTitle(m);
    showStyle(m.image_style, m);
    const widths = [m.n_features, ...m.layers.filter((l) => l.type === "Dense").map((l) => l.units)];
    const epoch = m.epoch === null ? "" : m.batches
      ? ` · weights ${m.batches} batch${m.batches === 1 ? "" : "es"} into epoch ${m.epoch}`
      : ` · weights of epoch ${m.epoch}`;
    const file = m.source.split(/[\\/]/).slice(-2).join("/");
    $("model-info").textContent = `${widths.join(" → ")} · ${m.layers.map((l) => l.type).join(", ")} · ${file}${epoch}`;
    $("model-info").title = m.source;
    showInputs(m, changed);
    state.weights.clear();
    return { run: m.run };
  } catch (err) {
    $("model-info").textContent = err.message;
    setStatus(err.message, true);
    state.model = null;
    return { run: false };
  }
}
async function start() {
  redraw();
  const { run: isRun } = await loadModelInfo();
  if (isRun) {
    $("tabs").hidden = false;
    for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showView(b.dataset.view));
    pollRun();
  }
  if (!state.model && isRun) showView("run");
  if (state.model && !state.model.image_input) update();
}
start();

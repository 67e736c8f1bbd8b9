// The page: pick or edit an experiment, meta-learn it on this GPU with the
// wasm build of Occam (pkg/, made by scripts/web-build.sh), redraw the loss
// and the learned function every few meta-steps, and offer the CLI's files.
// window.occamState mirrors what the page shows, for scripts/web-test.py.
import init, { experiments, open_session } from "./pkg/occam_web.js";

const $ = (id) => document.getElementById(id);
const state = (window.occamState = { status: "loading", step: 0, adapter: null, error: null, heldout: null, curve: [] });
let session = null;
let running = false;

function show(status) {
  state.status = status;
  $("status").textContent = status;
  $("run").disabled = status === "running";
  $("stop").disabled = status !== "running";
  $("continue").disabled = !(status === "stopped" && session && session.step() < session.meta_steps());
}

function fail(e) {
  running = false;
  state.error = String(e);
  $("error").textContent = String(e);
  show("error");
}

// Diverging colours: blue (low) through white to red (high).
function colour(t) {
  t = Math.max(0, Math.min(1, t));
  const a = t < 0.5 ? [49, 54, 149] : [255, 255, 255];
  const b = t < 0.5 ? [255, 255, 255] : [165, 0, 38];
  const u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  return a.map((v, i) => Math.round(v + (b[i] - v) * u));
}

function drawLoss() {
  const c = $("loss"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const pts = state.curve.filter(([, v]) => isFinite(v));
  if (pts.length < 1) return;
  // Log scale while the loss is positive; a loss with a reward term can go
  // below zero, and then the scale is linear.
  const log = pts.every(([, v]) => v > 0);
  $("loss-scale").textContent = log ? "(log scale)" : "(linear scale)";
  const xs = pts.map(([s]) => s), ys = pts.map(([, v]) => (log ? Math.log10(v) : v));
  const x0 = 0, x1 = Math.max(1, ...xs), y0 = Math.min(...ys), y1 = Math.max(...ys) + 1e-9;
  const X = (s) => 40 + (s - x0) / (x1 - x0) * (c.width - 50);
  const Y = (v) => c.height - 20 - (v - y0) / (y1 - y0 + 1e-12) * (c.height - 30);
  g.strokeStyle = "#888"; g.beginPath(); g.moveTo(40, 5); g.lineTo(40, c.height - 20); g.lineTo(c.width - 5, c.height - 20); g.stroke();
  g.fillStyle = "#333"; g.font = "11px sans-serif";
  const label = (v) => (log ? `1e${v.toFixed(1)}` : v.toPrecision(3));
  g.fillText(label(y1), 2, 12); g.fillText(label(y0), 2, c.height - 22);
  g.fillText(String(x1), c.width - 30, c.height - 5);
  g.strokeStyle = "#1f5fa8"; g.lineWidth = 2; g.beginPath();
  pts.forEach(([s], i) => { const p = [X(s), Y(ys[i])]; i ? g.lineTo(...p) : g.moveTo(...p); });
  g.stroke();
}

async function drawFunction() {
  const pic = JSON.parse(session.picture());
  const values = await session.draw();
  const c = $("function"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (pic.kind === "scatter") {
    $("picture-kind").textContent = "(against input 0)";
    const n = values.length / 2, xs = values.slice(0, n), fs = values.slice(n);
    const lo = Math.min(...fs), hi = Math.max(...fs);
    g.fillStyle = "#1f5fa8";
    for (let i = 0; i < n; i++) g.fillRect(10 + (xs[i] + 1) / 2 * (c.width - 20), c.height - 10 - (fs[i] - lo) / (hi - lo + 1e-12) * (c.height - 20), 2, 2);
    return;
  }
  if (pic.kind === "images") {
    // The first images, each with its learned label as a coloured bar.
    $("picture-kind").textContent = "(the first images, each with its label: blue low, red high)";
    const px = session.picture_inputs(), per = pic.height * pic.width;
    let plo = Infinity, phi = -Infinity;
    for (const v of px) { plo = Math.min(plo, v); phi = Math.max(phi, v); }
    const lo = Math.min(...values), hi = Math.max(...values);
    const cols = 8, cell = 62, shown = Math.min(pic.count, 32);
    for (let k = 0; k < shown; k++) {
      const img = g.createImageData(pic.width, pic.height);
      for (let i = 0; i < per; i++) {
        const v = Math.round(255 * (px[k * per + i] - plo) / (phi - plo + 1e-12));
        img.data.set([v, v, v, 255], i * 4);
      }
      const off = new OffscreenCanvas(pic.width, pic.height);
      off.getContext("2d").putImageData(img, 0, 0);
      const x = (k % cols) * cell, y = Math.floor(k / cols) * (cell + 4);
      g.imageSmoothingEnabled = false;
      g.drawImage(off, x, y, 42, 42);
      g.fillStyle = `rgb(${colour((values[k] - lo) / (hi - lo + 1e-12))})`;
      g.fillRect(x, y + 44, 42, 10);
      g.fillStyle = "#333"; g.font = "10px sans-serif";
      g.fillText(values[k].toFixed(2), x + 44, y + 53);
    }
    return;
  }
  $("picture-kind").textContent = pic.kind === "map" ? "(longitude across, latitude up)" : "(x across, y up)";
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const img = g.createImageData(pic.width, pic.height);
  let k = 0;
  pic.inside.forEach((inside, i) => {
    if (!inside) return;
    const [r, gg, b] = colour((values[k++] - lo) / (hi - lo + 1e-12));
    img.data.set([r, gg, b, 255], i * 4);
  });
  // Scaled up to the canvas, pixels kept sharp.
  const off = new OffscreenCanvas(pic.width, pic.height);
  off.getContext("2d").putImageData(img, 0, 0);
  const scale = Math.min((c.width - 60) / pic.width, c.height / pic.height);
  g.imageSmoothingEnabled = false;
  g.drawImage(off, 0, 0, pic.width * scale, pic.height * scale);
  for (let j = 0; j < 100; j++) { g.fillStyle = `rgb(${colour(1 - j / 99)})`; g.fillRect(c.width - 40, j * (c.height - 20) / 100, 14, (c.height - 20) / 100 + 1); }
  g.fillStyle = "#333"; g.font = "11px sans-serif";
  g.fillText(hi.toFixed(2), c.width - 24, 10); g.fillText(lo.toFixed(2), c.width - 24, c.height - 22);
}

async function showHeldout() {
  const h = JSON.parse(await session.heldout());
  state.heldout = h;
  $("heldout").innerHTML = Object.entries(h)
    .map(([k, v]) => `<tr><td>${k}</td><td class="v">${typeof v === "number" ? v.toPrecision(6) : v}</td></tr>`)
    .join("");
}

function offerDownloads() {
  const link = (name, blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name; a.textContent = name;
    return a;
  };
  const d = $("downloads");
  d.replaceChildren("Downloads: ");
  const add = async (name, make, type) => d.append(link(name, new Blob([await make()], { type })));
  return Promise.all([
    add("function.npy", () => session.function_npy(), "application/octet-stream"),
    add("theta.npy", () => session.theta_npy(), "application/octet-stream"),
    add(session.inputs_name(), () => session.inputs_npy(), "application/octet-stream"),
    add("summary.json", () => session.summary(), "application/json"),
    add("config.toml", () => session.config_toml(), "text/plain"),
  ]);
}

async function loop() {
  running = true;
  show("running");
  const every = Math.max(1, Number($("every").value) || 5);
  try {
    while (running && session.step() < session.meta_steps()) {
      const p = JSON.parse(await session.advance(every));
      state.step = p.step;
      state.curve.push([p.step, p.meta_loss]);
      $("step").textContent = p.step;
      drawLoss();
      await drawFunction();
    }
    const done = session.step() >= session.meta_steps();
    running = false;
    await showHeldout();
    await offerDownloads();
    show(done ? "done" : "stopped");
  } catch (e) {
    fail(e);
  }
}

async function start() {
  $("error").textContent = "";
  state.error = null; state.heldout = null; state.curve = []; state.step = 0;
  $("heldout").innerHTML = ""; $("downloads").replaceChildren();
  show("running");
  try {
    session = await open_session($("toml").value, $("experiment").value || "edited.toml");
  } catch (e) {
    return fail(e);
  }
  state.adapter = session.adapter();
  $("adapter").textContent = state.adapter;
  $("of").textContent = session.meta_steps();
  await loop();
}

async function main() {
  if (!navigator.gpu) {
    $("nowebgpu").style.display = "block";
    return fail("no WebGPU in this browser (navigator.gpu is missing)");
  }
  await init();
  const list = JSON.parse(experiments());
  for (const [name] of list) $("experiment").append(new Option(name, name));
  const pick = () => { $("toml").value = list.find(([n]) => n === $("experiment").value)[1]; };
  $("experiment").onchange = pick;
  pick();
  $("run").onclick = start;
  $("stop").onclick = () => { running = false; };
  $("continue").onclick = () => loop();
  show("ready");
}

main().catch(fail);

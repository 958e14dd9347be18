// The demo page: draw (palette, free colour, brush, fill, undo, clear), upload, examples.
// Translation is the backend's (`backend.translate(blob, name, signal)`): the demo server's
// (backend-server.js) or the ONNX model's in the page (backend-onnx.js, export --web).
"use strict";
const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const DISPLAY = 512; // on-screen side of the larger dimension, in CSS pixels
const DEBOUNCE_MS = 300;
const MAX_UNDO = 40;
let info = null;
let colour = [0, 0, 0];
let background = [255, 255, 255];
let undoStack = [];
let controller = null; // the running request's AbortController
let sequence = 0;
let timer = null;
let outputUrl = null;
let version = 0; // of the canvas: body's data-version; data-shown is the one translated

function hex(c) { return "#" + c.map((v) => v.toString(16).padStart(2, "0")).join(""); }
function fromHex(h) { return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)); }

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setSize(width, height) {
  canvas.width = width;
  canvas.height = height;
  const scale = DISPLAY / Math.max(width, height);
  for (const el of [canvas, $("output")]) {
    el.style.width = `${Math.round(width * scale)}px`;
    el.style.height = `${Math.round(height * scale)}px`;
  }
  $("input-size").textContent = `${width}x${height}`;
}

function blank() {
  const side = info.model.crop_size;
  setSize(side, side);
  ctx.fillStyle = hex(background);
  ctx.fillRect(0, 0, side, side);
}

function changed() {
  version += 1;
  document.body.dataset.version = String(version);
}

function remember() {
  changed(); // every change to the canvas starts here (undo aside)
  undoStack.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
  if (undoStack.length > MAX_UNDO) undoStack.shift();
}

function undo() {
  const last = undoStack.pop();
  if (!last) return;
  changed();
  if (last.width !== canvas.width || last.height !== canvas.height) {
    setSize(last.width, last.height);
  }
  ctx.putImageData(last, 0, 0);
  schedule();
}

function choose(rgb, button) {
  colour = rgb;
  for (const b of $("palette").children) b.setAttribute("aria-checked", String(b === button));
}

// --- drawing: exact colours, no anti-aliasing, so a label map keeps its classes ---
let stroke = null; // {image, x, y} while the pointer is down

function stamp(image, x, y) {
  // A disc of `size` pixels across; an even size is centred between pixels.
  const size = Number($("brush-size").value);
  const lo = Math.floor((size - 1) / 2);
  const hi = size - 1 - lo;
  const centre = (hi - lo) / 2;
  const r2 = (size / 2) ** 2;
  const { width, height, data } = image;
  for (let j = y - lo; j <= y + hi; j++) {
    for (let i = x - lo; i <= x + hi; i++) {
      if (i < 0 || j < 0 || i >= width || j >= height) continue;
      if ((i - x - centre) ** 2 + (j - y - centre) ** 2 > r2) continue;
      const k = 4 * (j * width + i);
      data[k] = colour[0]; data[k + 1] = colour[1]; data[k + 2] = colour[2]; data[k + 3] = 255;
    }
  }
}

function line(image, x0, y0, x1, y1) {
  const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
  for (let s = 1; s <= steps; s++) {
    stamp(image, Math.round(x0 + (x1 - x0) * s / steps), Math.round(y0 + (y1 - y0) * s / steps));
  }
}

function floodFill(image, x, y) {
  const { width, height } = image;
  const pixels = new Uint32Array(image.data.buffer);
  const bytes = new Uint8ClampedArray([...colour, 255]);
  const target = pixels[y * width + x];
  const paint = new Uint32Array(bytes.buffer)[0];
  if (target === paint) return;
  const stack = [y * width + x];
  while (stack.length) {
    const p = stack.pop();
    if (pixels[p] !== target) continue;
    pixels[p] = paint;
    const px = p % width;
    if (px > 0) stack.push(p - 1);
    if (px < width - 1) stack.push(p + 1);
    if (p >= width) stack.push(p - width);
    if (p < width * (height - 1)) stack.push(p + width);
  }
}

function position(event) {
  const rect = canvas.getBoundingClientRect();
  return [Math.floor((event.clientX - rect.left) * canvas.width / rect.width),
          Math.floor((event.clientY - rect.top) * canvas.height / rect.height)];
}

canvas.addEventListener("pointerdown", (event) => {
  if (!info) return;
  canvas.setPointerCapture(event.pointerId);
  remember();
  const [x, y] = position(event);
  const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
  if (document.querySelector("input[name=tool]:checked").value === "fill") {
    floodFill(image, x, y);
    ctx.putImageData(image, 0, 0);
    schedule();
    return;
  }
  stamp(image, x, y);
  ctx.putImageData(image, 0, 0);
  stroke = { image, x, y };
});
canvas.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const [x, y] = position(event);
  line(stroke.image, stroke.x, stroke.y, x, y);
  ctx.putImageData(stroke.image, 0, 0);
  stroke.x = x; stroke.y = y;
});
function endStroke() {
  if (!stroke) return;
  stroke = null;
  schedule();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

// --- translation: debounced after a stroke, or at once; a newer request aborts the older ---
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(translateCanvas, DEBOUNCE_MS);
}

function translateCanvas() {
  clearTimeout(timer);
  const drawn = version;
  canvas.toBlob((blob) => send(blob, "the drawing", drawn), "image/png");
}

async function send(body, name, shows) {
  if (controller) controller.abort();
  controller = new AbortController();
  const mine = ++sequence;
  document.body.dataset.state = "translating";
  $("timing").textContent = "translating…";
  const start = performance.now();
  try {
    const answer = await backend.translate(body, name, controller.signal);
    if (mine !== sequence) return; // a newer request owns the page
    if (outputUrl) URL.revokeObjectURL(outputUrl);
    outputUrl = URL.createObjectURL(answer.blob);
    const output = $("output");
    await new Promise((resolve) => {
      output.onload = resolve;
      output.onerror = resolve;
      output.src = outputUrl;
    });
    const total = performance.now() - start;
    $("timing").textContent = `${answer.size}, ${answer.modelMs} ms in the model, ` +
      `${total.toFixed(0)} ms in all`;
    $("download").href = outputUrl;
    $("download").hidden = false;
    showError("");
    document.body.dataset.shown = String(shows);
    document.body.dataset.state = "done";
    document.body.dataset.done = String(Number(document.body.dataset.done) + 1);
  } catch (error) {
    if (error.name === "AbortError" || mine !== sequence) return;
    $("timing").textContent = "";
    showError(error.message);
    document.body.dataset.state = "error";
  }
}

// --- uploads and examples ---
async function loadIntoCanvas(source) {
  const bitmap = await createImageBitmap(source, { colorSpaceConversion: "none",
                                                   premultiplyAlpha: "none" });
  remember();
  setSize(bitmap.width, bitmap.height);
  ctx.clearRect(0, 0, bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, 0, 0);
}

$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file) return;
  clearTimeout(timer);
  const sent = send(file, file.name, "upload"); // its own bytes, decoded as predict does
  try { await loadIntoCanvas(file); } catch (_) { /* the server names what is wrong */ }
  await sent;
  $("upload").value = "";
});

function showExamples(count) {
  $("examples-section").hidden = count === 0;
  for (let i = 0; i < count; i++) {
    const img = document.createElement("img");
    img.src = backend.exampleUrl(i);
    img.alt = `example ${i + 1}`;
    img.addEventListener("click", async () => {
      const blob = await (await fetch(img.src)).blob();
      await loadIntoCanvas(blob);
      translateCanvas();
    });
    $("examples").appendChild(img);
  }
}

function showPalette(palette) {
  const holder = $("palette");
  palette.colors.forEach((rgb, k) => {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.style.background = hex(rgb);
    button.title = palette.names[k] || hex(rgb);
    button.setAttribute("aria-label", button.title);
    button.addEventListener("click", () => choose(rgb, button));
    holder.appendChild(button);
  });
  // Labels start with the second colour: the first is the background.
  const first = palette.kind === "labels" && palette.colors.length > 1 ? 1 : 0;
  if (holder.children.length) choose(palette.colors[first], holder.children[first]);
}

async function start() {
  info = await backend.info();
  const model = info.model;
  $("model-name").textContent = model.name || "";
  $("model-about").textContent = `${model.direction}, ${model.netG}, step ${model.training_step}` +
    ` · draws at ${model.crop_size}x${model.crop_size}; uploads are translated at their own size` +
    ` · palette: ${info.palette.kind} (${info.palette.source}) · ${info.runs_on}`;
  background = info.palette.background;
  const size = info.palette.kind === "edges" ? 1 : Math.max(2, Math.round(model.crop_size / 24));
  $("brush-size").value = size;
  $("brush-size-shown").textContent = size;
  blank();
  showPalette(info.palette);
  showExamples(info.examples);
  document.body.dataset.state = "ready";
}

$("brush-size").addEventListener("input", () => {
  $("brush-size-shown").textContent = $("brush-size").value;
});
$("free-colour").addEventListener("input", () => choose(fromHex($("free-colour").value), null));
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => { remember(); blank(); schedule(); });
$("translate").addEventListener("click", translateCanvas);
start().catch((error) => showError(`the demo could not start: ${error.message}`));

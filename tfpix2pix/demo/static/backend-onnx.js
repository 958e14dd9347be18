// The ONNX model in this page as the demo's backend (export --web; see tfpix2pix/demo/web.py).
// Pixels go in as the Python side takes them: alpha composited on white, x / 127.5 - 1, float32
// NHWC; the model pads to its stride and crops back itself; the output is rounded to uint8.
"use strict";
(() => {
  let info = null;
  let session = null;
  let queue = Promise.resolve(); // one run at a time: a session is not re-entrant

  function aborted() { return new DOMException("a newer request replaced this one", "AbortError"); }

  function roundHalfEven(v) {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  async function readPixels(blob, name) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none",
                                               premultiplyAlpha: "none" });
    } catch (_) {
      throw new Error(`${name}: not a readable PNG or JPEG image; choose another file`);
    }
    if (bitmap.width * bitmap.height > info.max_pixels) {
      throw new Error(`${name}: ${bitmap.width}x${bitmap.height} pixels; this page translates ` +
                      `images of up to ${info.max_pixels.toLocaleString("en")} pixels`);
    }
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
  }

  async function run(image, signal) {
    if (signal.aborted) throw aborted();
    const { width, height, data } = image;
    const x = new Float32Array(width * height * 3);
    for (let p = 0, q = 0; p < data.length; p += 4, q += 3) {
      const a = data[p + 3] / 255;
      for (let c = 0; c < 3; c++) {
        x[q + c] = roundHalfEven(data[p + c] * a + 255 * (1 - a)) / 127.5 - 1;
      }
    }
    const start = performance.now();
    const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", x, [1, height, width, 3]) };
    const outputs = await session.run(feeds);
    const ms = performance.now() - start;
    const name = session.outputNames.includes("output") ? "output" : session.outputNames[0];
    const y = outputs[name].data;
    const result = new ImageData(width, height);
    for (let p = 0, q = 0; p < result.data.length; p += 4, q += 3) {
      for (let c = 0; c < 3; c++) {
        result.data[p + c] = Math.min(255, Math.max(0, roundHalfEven((y[q + c] + 1) * 127.5)));
      }
      result.data[p + 3] = 255;
    }
    const canvas = new OffscreenCanvas(width, height);
    canvas.getContext("2d").putImageData(result, 0, 0);
    const blob = await canvas.convertToBlob({ type: "image/png" });
    return { blob, modelMs: ms.toFixed(1), size: `${width}x${height}` };
  }

  window.backend = {
    async info() {
      info = await (await fetch("info.json")).json();
      // Threads need a cross-origin isolated page, which a plain static server does not give.
      ort.env.wasm.numThreads = 1;
      ort.env.wasm.wasmPaths = new URL("static/", document.baseURI).href;
      session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
      return info;
    },
    exampleUrl: (i) => `examples/${i}.png`,
    async translate(body, name, signal) {
      const image = await readPixels(body, name);
      const answer = queue.then(() => run(image, signal));
      queue = answer.catch(() => {});
      return answer;
    },
  };
})();

// The demo server as the page's backend (python -m tfpix2pix.demo; see server.py).
"use strict";
window.backend = {
  async info() {
    const response = await fetch("api/info");
    return response.json();
  },
  exampleUrl: (i) => `api/examples/${i}.png`,
  // PNG or JPEG bytes -> {blob (PNG), modelMs, size ("WxH")}; refusals throw their message.
  async translate(body, name, signal) {
    const response = await fetch("api/translate", {
      method: "POST", body, signal,
      headers: { "Content-Type": body.type || "application/octet-stream",
                 "X-File-Name": encodeURIComponent(name).slice(0, 200) },
    });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return { blob: await response.blob(), modelMs: response.headers.get("X-Translation-Ms"),
             size: response.headers.get("X-Output-Size") };
  },
};

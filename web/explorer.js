// The explorer's page script: the VAE decoders run in the page, so that slider moves, code toggles,
// prior draws and the latent map redraw the picture without a request to the server.
//
// Loaded by explorer/ui/ (launch's head) after ONNX Runtime Web (vendor/onnxruntime-web/, WebAssembly,
// one thread: the page is not cross-origin isolated). A VAE's name is the registry's (explorer/registry.py:
// "joint-any", "2d-any", "my-vae"); its decoder is the file configure() names: web/models/vae-<name>.onnx, exported
// from the shipped weights by `python -m train web`, or one the app exported for another file: z (1, D) float32 ->
// x (1, 3, 28, 28) in [0, 1]. Where the runtime or a VAE's decoder cannot load or run, show() answers false and the
// page asks the server's /decode.
//
// window.latentExplorer:
//   show(name, zText): decode the JSON list z and draw it into #decoded-image (its canvas; data-z = zText,
//     data-name = name);
//     latest wins while a decode is in flight; a promise of true once drawn, false if the page cannot decode.
//   route(name, zText, lastSent, newModel): the latent text changed: draw it in the page and return lastSent
//     (unchanged: no server event), or, if the page cannot decode, return zText (the server decodes it); with
//     newModel (another VAE chosen) and zText === lastSent, zText and a space: the same JSON to the server, but
//     a change that gradio sends, so that the new VAE draws it.
//   paintPicture(picture, zText): draw the server's picture (a data URL) into #decoded-image.
//   configure(specs): each VAE's latent layout and decoder ({name: {continuous, order, categorical, limit, factors,
//     decoder: its file's path on the server, or null}}); from
//     then on a slider moved or a code toggled is drawn at once, from the controls' values in the page, and so
//     is a factor slider (#factor-<i>) moved: factors[i] = [its factor, its unit direction in the continuous
//     part of z] (the weights file's factor_directions). z = the z shown when the factor sliders left 0 + the
//     sum of each factor slider's value times its direction (clipped to the sliders' range and step); the z
//     sliders follow once the factor slider is let go (its change event: setting 16 sliders on each move of
//     a drag would cost gradio 16 events a move). Any other z shown puts the factor sliders back to 0.
//   factorTexts(): [the z the factor sliders started from, the z they made], JSON texts ("" before a move).
//   controlsMoved(name, sliders, codes): gradio's slider and code event: the latent text, drawn; or, for
//     the controls that the map moved and has moved on from, gradio's no-change update (nothing drawn).
//   attach(): #decoded-image rendered (its tab shown): paint the last picture into it.
//   map(element, value): draw the hoverable latent map (value: Explorer.decoder_map's JSON) into the
//     canvas of `element`, with a key of the class colors; hover or drag decodes a point, a click loads a
//     sample digit's latent and names it below the map while that z is shown.
(() => {
  const script = document.currentScript;
  const base = script ? script.src.replace(/explorer\.js(\?.*)?$/, "") : "";
  const ort = window.ort;
  const SIDE = 28, PIXELS = SIDE * SIDE;
  const state = {sessions: {}, failed: !ort, unusable: new Set(), pending: null, busy: false, shown: null, last: null, superseded: new Set(),
                 following: false, followed: null, loaded: null, current: null, listeners: [], specs: null, name: null,
                 listening: false, requested: null, factorStart: null, factorText: null, factorsAtZero: true,
                 resettingFactors: false, factorZ: null};
  if (ort) {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = base + "vendor/onnxruntime-web/";  // served by the app itself: never a CDN
  }

  // A VAE's decoder: the file configure() named for it (web/models/vae-<name>.onnx for a shipped VAE, a decoder
  // exported for another file), served by the app at gradio_api/file=<path>, like this script.
  function session(name) {
    if (!state.specs) return Promise.reject(new Error("the page's decoders are not configured yet"));  // not kept
    if (!state.sessions[name]) {
      const path = state.specs[name] && state.specs[name].decoder;
      state.sessions[name] = path ? ort.InferenceSession.create(
        base.replace(/file=.*$/, "file=") + path.split("/").map(encodeURIComponent).join("/"), {executionProviders: ["wasm"]})
        : Promise.reject(new Error(`no page decoder for ${name}`));
      state.sessions[name].catch(error => {  // no model: the server decodes this VAE from now on
        console.warn(`The page cannot decode ${name}; the server decodes it instead:`, error);
        state.unusable.add(name);
      });
    }
    return state.sessions[name];
  }

  async function decode(name, z) {
    const model = await session(name);
    const out = await model.run({z: new ort.Tensor("float32", Float32Array.from(z), [1, z.length])});
    return out.x.data;  // (3, 28, 28) planes in [0, 1]
  }

  function canvas() {
    return document.querySelector("#decoded-image canvas");
  }

  // RGB planes in [0, 1] -> the canvas's bytes; Uint8ClampedArray rounds half to even, as torch.round does
  // on the server (explorer.images.to_picture), so both give the same bytes.
  function toImageData(x) {
    const image = new ImageData(SIDE, SIDE), d = image.data;
    for (let i = 0; i < PIXELS; i++) {
      d[4 * i] = x[i] * 255;
      d[4 * i + 1] = x[PIXELS + i] * 255;
      d[4 * i + 2] = x[2 * PIXELS + i] * 255;
      d[4 * i + 3] = 255;
    }
    return image;
  }

  function paint(image, zText, name) {
    state.last = {image, zText, name};
    const target = canvas();
    if (!target) return;  // its tab is not rendered yet: attach() paints it then
    target.getContext("2d").putImageData(image, 0, 0);
    Object.assign(target.closest("#decoded-image").dataset, {z: zText, name});  // what it shows: z, by which VAE
  }

  async function show(name, zText) {
    const key = name + zText;
    state.requested = {name, zText};
    if (!state.factorsAtZero && key !== state.factorText) resetFactors();  // another z: the factors start again
    if (state.failed || state.unusable.has(name)) return false;  // no runtime, or no decoder for this VAE
    if (state.shown === key || (state.pending && state.pending.key === key)) return true;
    state.pending = {name, zText, key};
    if (state.busy) return true;  // the loop below draws the latest
    state.busy = true;
    try {
      while (state.pending) {
        const job = state.pending;
        state.pending = null;
        const z = JSON.parse(job.zText);
        const x = await decode(job.name, z);
        if (!state.pending) paint(toImageData(x), job.zText, job.name);  // skip frames already replaced
        state.shown = job.key;
        state.current = {name: job.name, z};
        checkLoaded(job.name, job.zText);
        state.listeners.forEach(listener => listener());
      }
      return true;
    } catch (error) {  // this z could not be decoded here: the server decodes it (and says why if it cannot)
      console.warn("In-page decoding failed; the server decodes this z:", error);
      state.pending = null;
      state.shown = null;
      return false;
    } finally {
      state.busy = false;
    }
  }

  // ---------------------------------------------------------------- the controls -> z

  // The latent text of the sliders' and code rows' values, z in the model's own order (the sliders are
  // sorted by KL: spec.order[slot] is a slider's dimension). The page's one formula for it: gradio's
  // event (explorer/ui/sliders.py) calls it too, so both give the same text. A latent past the page's slots
  // (a VAE of more dimensions or variables than there are sliders and code rows) keeps its value in `shown`,
  // the z drawn, else 0 / category 0.
  function latentText(spec, sliders, codes, shown = null) {
    const z = new Array(spec.continuous).fill(0);
    spec.order.forEach((dimension, slot) => { z[dimension] = Number(sliders[slot] ?? (shown ? shown[dimension] : 0)); });
    let start = spec.continuous;
    spec.categorical.forEach((k, j) => {
      const block = new Array(k).fill(0);
      const kept = shown ? shown.slice(start, start + k) : [1];
      block[Number(codes[j] ?? kept.indexOf(Math.max(...kept)))] = 1;
      z.push(...block);
      start += k;
    });
    return JSON.stringify(z.map(v => Math.round(v * 1000) / 1000));
  }

  function shownZ(name) {
    return state.current && state.current.name === name ? state.current.z : null;
  }

  // A slider moved or a code toggled: draw at once, from the controls in the page. gradio's own event
  // comes some 17 ms later (measured in headless Chromium; under load, seconds) and finds the picture drawn.
  function controlInput(event) {
    const factor = event.target.closest && event.target.closest("[id^=factor-]");
    if (factor && /^factor-\d+$/.test(factor.id)) return factorMoved(Number(factor.id.slice(7)), event.target.value);
    const control = event.target.closest && event.target.closest("[id^=slider-], [id^=code-]");
    const spec = state.specs && state.specs[state.name];
    if (!control || !spec || !/^(slider|code)-\d+$/.test(control.id)) return;
    const value = (id, selector) => document.querySelector(`#${id} ${selector}`)?.value;
    const sliders = spec.order.map((_, slot) => (control.id === `slider-${slot}` ? event.target.value
                                                 : value(`slider-${slot}`, "input[type=range]")));
    const codes = spec.categorical.map((_, j) => value(`code-${j}`, "input[type=radio]:checked"));
    const text = latentText(spec, sliders, codes, shownZ(state.name));
    if (state.following) {  // the map moves the controls (follow)
      state.superseded.add(state.name + text);
      return;
    }
    state.superseded.clear();  // a user's move: every z from now on is drawn
    state.followed = null;
    moved(state.name, text);
  }

  // gradio's event for the same move: its values -> the latent text (to the textbox), drawn if not yet.
  function controlsMoved(name, sliders, codes) {
    const spec = state.specs && state.specs[name];
    if (!spec) return "[]";
    const text = latentText(spec, sliders, codes, shownZ(name));
    if (setAside(name, text)) return {__type__: "update"};  // the latent text stays as it is
    moved(name, text);
    return text;
  }

  // ---------------------------------------------------------------- the factor sliders

  function factorMoved(slot, value) {
    const spec = state.specs && state.specs[state.name];
    const start = state.requested;
    if (state.resettingFactors || !spec || !spec.factors || !spec.factors[slot] || !start || start.name !== state.name) return;
    let z;
    try { z = JSON.parse(start.zText); } catch (error) { return; }
    if (!state.factorStart || state.factorStart.name !== start.name || start.name + start.zText !== state.factorText) {
      state.factorStart = {name: start.name, zText: start.zText, z, values: spec.factors.map(() => 0)};
      resetFactors(slot);
    }
    state.factorStart.values[slot] = Number(value);
    const moved = state.factorStart.z.slice();
    spec.factors.forEach(([, direction], i) => direction.forEach((d, j) => { moved[j] += state.factorStart.values[i] * d; }));
    for (let j = 0; j < spec.continuous; j++) moved[j] = Math.round(Math.max(-spec.limit, Math.min(spec.limit, moved[j])) * 20) / 20;
    const zText = JSON.stringify(moved);
    state.factorText = start.name + zText;
    state.factorZ = {name: start.name, z: moved, zText};
    state.factorsAtZero = false;
    show(start.name, zText);
  }

  // A factor slider let go: the z sliders and code rows take the z it made (if it is still the one shown).
  function factorSettled(event) {
    const factor = event.target.closest && event.target.closest("[id^=factor-]");
    const made = state.factorZ;
    if (!factor || !/^factor-\d+$/.test(factor.id) || state.resettingFactors || !made ||
        made.name + made.zText !== state.factorText) return;
    const spec = state.specs[made.name];
    const codes = spec.categorical.map((k, j) => {
      const offset = spec.continuous + spec.categorical.slice(0, j).reduce((a, b) => a + b, 0);
      const block = made.z.slice(offset, offset + k);
      return block.indexOf(Math.max(...block));
    });
    follow(made.name, made.z, made.zText, codes);
  }

  // Every factor slider (but `keep`) back to 0, as a user would set it, without moving z.
  function resetFactors(keep = -1) {
    state.resettingFactors = true;
    try {
      document.querySelectorAll("[id^=factor-] input[type=range]").forEach(range => {
        if (range.closest("[id^=factor-]").id === `factor-${keep}` || range.value === "0") return;
        range.value = "0";
        range.dispatchEvent(new Event("input", {bubbles: true}));
      });
    } finally {
      state.resettingFactors = false;
    }
    state.factorsAtZero = keep < 0;
    if (keep < 0) state.factorStart = null;
  }

  function factorTexts() {
    const start = state.factorStart;
    return start && state.factorText ? [start.zText, state.factorText.slice(start.name.length)] : ["", ""];
  }

  function configure(specs) {
    state.specs = specs;
    if (!state.listening) {
      document.addEventListener("input", controlInput, true);
      document.addEventListener("change", factorSettled, true);
    }
    state.listening = true;
  }

  // A z that the map's moves set aside (see follow): not drawn. (The server's texts, Python's JSON, are
  // spaced, "[0.0, 1.0]", and never equal the page's, "[0,1]".)
  function setAside(name, zText) {
    return state.superseded.has(name + zText);
  }

  // Another z than the map's last one is to be shown: that one is set aside too.
  function moveOn(name, zText) {
    if (!state.followed || state.followed === name + zText) return;
    state.superseded.add(state.followed);
    state.followed = null;
  }

  function moved(name, zText) {
    state.name = name;
    if (setAside(name, zText)) return;
    moveOn(name, zText);
    show(name, zText);
  }

  async function route(name, zText, lastSent, newModel = false) {
    state.name = name;
    if (!zText || zText === "[]" || setAside(name, zText)) return lastSent;
    moveOn(name, zText);
    if (await show(name, zText)) return lastSent;
    checkLoaded(name, zText);  // the server draws it
    return newModel && zText === lastSent ? zText + " " : zText;
  }

  // The sample digit that a click on the map loaded ({name, z}), while it is the z shown: the line below
  // the map names it. Another z shown (in the page or by the server), or another VAE: the line is cleared.
  function checkLoaded(name, zText) {
    if (!state.loaded || state.pending) return;
    let same = false;
    try { same = name === state.loaded.name && JSON.stringify(JSON.parse(zText)) === state.loaded.z; } catch (error) { /* not a z */ }
    if (!same) forgetLoaded();
  }

  function forgetLoaded() {
    state.loaded = null;
    document.querySelectorAll(".latent-plane-caption").forEach(caption => { caption.textContent = ""; });
  }

  function paintPicture(picture, zText) {
    const url = picture && (picture.url || picture.path);
    if (!url) return;
    const img = new Image();
    img.onload = () => {
      const scratch = document.createElement("canvas");
      scratch.width = scratch.height = SIDE;
      const context = scratch.getContext("2d");
      context.drawImage(img, 0, 0);
      paint(context.getImageData(0, 0, SIDE, SIDE), zText, state.name);
      try {  // the z shown, as an in-page decode records it: the latents past the controls' slots keep it
        state.current = {name: state.name, z: JSON.parse(zText)};
      } catch (error) { /* not a z: nothing to keep */ }
    };
    img.src = url;
  }

  function attach() {
    if (state.last) paint(state.last.image, state.last.zText, state.last.name);
  }

  // ---------------------------------------------------------------- the hoverable latent map

  const PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#0082c8", "#f58230", "#911eb4", "#46f0f0", "#f032e6",
                   "#d2f53c", "#fabed4"];  // explorer.data.PALETTE, digit by digit: the map's dots by class

  // The z shown now, if it is of this VAE: its categorical blocks (the joint's code) are kept on the map.
  function currentBlocks(name, continuous) {
    const z = shownZ(name);
    return z ? z.slice(continuous) : null;
  }

  // The sliders and code rows follow z: each control set as a user would, so gradio keeps its values. The z
  // of the partly moved controls is not drawn, nor a z the map showed before this one: their texts (from
  // the page's own input events as each control moves) are set aside, for gradio's events for the same
  // moves come later (under load, seconds later), until a user moves a control. Kept as the VAE's name + z.
  function follow(name, z, zText, codes = []) {
    const superseded = state.superseded;
    state.name = name;
    if (state.followed) superseded.add(state.followed);
    state.following = true;
    try {
      state.specs[name].order.forEach((dimension, slot) => {
        const range = document.querySelector(`#slider-${slot} input[type=range]`);
        if (!range) return;
        range.value = String(z[dimension]);
        range.dispatchEvent(new Event("input", {bubbles: true}));
      });
      setCodes(codes);
    } finally {
      state.following = false;
    }
    superseded.delete(name + zText);
    state.followed = name + zText;
    for (const text of superseded) {  // the oldest first: a drag on the map keeps its last 20,000 (30 s)
      if (superseded.size <= 20000) break;
      superseded.delete(text);
    }
  }

  function setCodes(codes) {
    codes.forEach((code, j) => {
      const radios = document.querySelectorAll(`#code-${j} input[type=radio]`);
      const radio = [...radios].find(r => r.value === String(code) || r.dataset.index === String(code));
      if (radio && !radio.checked) radio.click();
    });
  }

  // The map of one VAE: data from Explorer.decoder_map (JSON, the HTML's value). Hover or drag: the point
  // decodes in the page and the sliders follow; click a dot: that sample digit's latent.
  function map(element, value) {
    const data = typeof value === "string" && value ? JSON.parse(value) : value;
    const view = element.querySelector("canvas.latent-plane");
    const caption = element.querySelector(".latent-plane-caption");
    const legend = element.querySelector(".latent-plane-legend");
    if (!view || !data || !data.points) return;
    if (legend && !legend.childElementCount) {
      PALETTE.forEach((color, digit) => {
        const key = document.createElement("span");
        key.innerHTML = `<span style="color:${color}">&#9679;</span> ${digit}`;
        legend.append(key);
      });
    }
    const continuous = data.features === "continuous" ? data.mean.length : 0;
    const controls = {
      codeBlock: () => currentBlocks(data.name, continuous) || [],
      code: () => { const b = currentBlocks(data.name, continuous); return b && b.length ? b.indexOf(Math.max(...b)) : null; },
      follow: (z, zText, codes) => follow(data.name, z, zText, codes),
    };
    const ctx = view.getContext("2d");
    const xs = data.points.map(p => p[0]), ys = data.points.map(p => p[1]);
    const pad = 0.08;
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const sx = (x1 - x0) * pad, sy = (y1 - y0) * pad;
    const box = {x0: x0 - sx, x1: x1 + sx, y0: y0 - sy, y1: y1 + sy};
    const toPixel = (a, b) => [(a - box.x0) / (box.x1 - box.x0) * view.width, (box.y1 - b) / (box.y1 - box.y0) * view.height];
    const toPlane = (px, py) => [box.x0 + px / view.width * (box.x1 - box.x0), box.y1 - py / view.height * (box.y1 - box.y0)];
    const selectedCode = () => (controls.code ? controls.code() : null);
    if (state.loaded && state.loaded.name !== data.name) forgetLoaded();  // another VAE's map

    function drawDots() {
      ctx.fillStyle = "#000";
      ctx.fillRect(0, 0, view.width, view.height);
      const code = selectedCode();
      data.points.forEach((p, i) => {
        const [px, py] = toPixel(p[0], p[1]);
        const faded = data.features === "continuous" && code !== null && data.codes[i].length && data.codes[i][0] !== code;
        ctx.globalAlpha = faded ? 0.18 : 0.9;
        ctx.fillStyle = PALETTE[data.labels[i]];
        ctx.beginPath();
        ctx.arc(px, py, 2.5, 0, 2 * Math.PI);
        ctx.fill();
      });
      ctx.globalAlpha = 1;
    }

    // A point of the plane -> z: the features mean + a axes[0] + b axes[1].
    function latentAt(a, b) {
      const f = data.mean.map((m, j) => m + a * data.axes[0][j] + b * data.axes[1][j]);
      if (data.features === "continuous") {
        const z = f.map(v => Math.round(Math.max(-data.limit, Math.min(data.limit, v)) * 20) / 20);  // the sliders' step
        return z.concat(controls.codeBlock ? controls.codeBlock() : []);
      }
      const z = [];  // categorical: each variable's probabilities, negatives clipped, renormalised
      let start = 0;
      data.categorical.forEach(k => {
        const block = f.slice(start, start + k).map(v => Math.max(0, v));
        const sum = block.reduce((s, v) => s + v, 0);
        z.push(...block.map(v => Math.round((sum > 0 ? v / sum : 1 / k) * 1000) / 1000));
        start += k;
      });
      return z;
    }

    function sampleLatent(i) {
      const z = data.means[i].map(v => Math.round(Math.max(-data.limit, Math.min(data.limit, v)) * 20) / 20);
      data.codes[i].forEach((c, j) => { const block = new Array(data.categorical[j]).fill(0); block[c] = 1; z.push(...block); });
      return z;
    }

    function pointer(event) {
      const r = view.getBoundingClientRect();
      return [(event.clientX - r.left) * view.width / r.width, (event.clientY - r.top) * view.height / r.height];
    }

    function nearestDot(px, py) {
      let best = -1, bestDistance = 36;  // within 6 canvas pixels
      data.points.forEach((p, i) => {
        const [qx, qy] = toPixel(p[0], p[1]);
        const d = (qx - px) ** 2 + (qy - py) ** 2;
        if (d < bestDistance) { best = i; bestDistance = d; }
      });
      return best;
    }

    function go(z, follow, codes) {
      const zText = JSON.stringify(z);
      show(data.name, zText);
      if (follow && controls.follow) controls.follow(z, zText, codes);
    }

    element.closest("#slider-map").dataset.name = data.name;
    const current = () => !state.name || state.name === data.name;  // else the next model's map is on its way
    view.onmousemove = (event) => {
      if (!current()) return;
      const [a, b] = toPlane(...pointer(event));
      go(latentAt(a, b), data.features === "continuous");
    };
    view.onclick = (event) => {
      const i = current() ? nearestDot(...pointer(event)) : -1;
      if (i < 0) return;
      const z = sampleLatent(i);
      go(z, true, data.codes[i]);
      state.loaded = {name: data.name, z: JSON.stringify(z)};
      if (caption) caption.textContent = `Sample digit ${i} (a ${data.labels[i]}): its latent is loaded.`;
    };
    drawDots();
    let drawnCode = controls.code();
    if (element.latentMapListener) state.listeners.splice(state.listeners.indexOf(element.latentMapListener), 1);
    element.latentMapListener = () => {  // the joint's map is drawn for the selected code
      const code = controls.code();
      if (code !== drawnCode) { drawnCode = code; drawDots(); }
    };
    state.listeners.push(element.latentMapListener);
  }

  window.latentExplorer = {configure, controlsMoved, show, route, paintPicture, attach, map, factorTexts,
                           available: () => !state.failed, palette: PALETTE};  // the class colors: web/lab.js too
})();

// The beta Lab's page script: the family of 2-D VAEs that `python -m train lab` trained (web/lab/), shown without
// the server. The page fetches lab/lab.json once (every snapshot's figures and the sample digits' posterior means)
// and each snapshot's decoder (lab/beta-<beta>/step-<step>.onnx, z (N, 2) -> x (N, 3, 28, 28) in [0, 1]) once,
// decodes its manifold grid and reconstructions with ONNX Runtime Web (loaded before it, as for explorer.js), and
// keeps the pictures. Every move of the beta or training-time slider then redraws the map, the grid, the
// reconstructions, the rate-distortion plane and the KL bars from what the page holds: no request.
//
// Loaded in the page's head after explorer.js (explorer/ui/components.py); it finds the Lab's HTML (explorer/ui/lab.py:
// #beta-lab) when gradio renders it. On #beta-lab: data-shown = "<beta index>:<time index>" once a move is drawn (with
// its grid and reconstructions: data-pictures = "yes", or "no" while they are still decoding), data-decoded = the
// snapshots decoded so far, data-failed = those that could not be, data-ready = "yes" once every one was tried.
(() => {
  const script = document.currentScript;
  const base = script ? script.src.replace(/lab\.js(\?.*)?$/, "") : "";
  const SIDE = 28, PIXELS = SIDE * SIDE;
  const PALETTE = window.latentExplorer.palette;  // the class colors of the sliders tab's map (web/explorer.js)
  const PLAY_STEP_MS = 600;
  const state = {lab: null, root: null, beta: 0, time: 0, pictures: new Map(), playing: null, bounds: null,
                 originals: null, failed: [], decoding: false};

  const key = (b, t) => `${b}:${t}`;
  const snapshot = (b, t) => state.lab.family[b].snapshots[t];
  const $ = selector => state.root.querySelector(selector);

  // RGB planes (3, 28, 28) in [0, 1], at `offset` in x, into `image` at (left, top); Uint8ClampedArray rounds
  // half to even, as the server does (explorer.images.to_picture).
  function paint(image, x, offset, left, top) {
    const d = image.data, width = image.width;
    for (let i = 0; i < PIXELS; i++) {
      const p = ((top + Math.floor(i / SIDE)) * width + left + (i % SIDE)) * 4;
      d[p] = x[offset + i] * 255;
      d[p + 1] = x[offset + PIXELS + i] * 255;
      d[p + 2] = x[offset + 2 * PIXELS + i] * 255;
      d[p + 3] = 255;
    }
  }

  // One snapshot's pictures: its decoder run once on the grid's codes and the reconstructed digits' means.
  async function decodeSnapshot(b, t) {
    const lab = state.lab, shot = snapshot(b, t);
    const shown = lab.digits.reconstructed.map(i => shot.means[i]);
    const z = Float32Array.from([...lab.grid, ...shown].flat());
    const url = base + "lab/" + shot.decoder.split("/").map(encodeURIComponent).join("/");
    const session = await window.ort.InferenceSession.create(url, {executionProviders: ["wasm"]});
    try {
      const out = (await session.run({z: new window.ort.Tensor("float32", z, [z.length / 2, 2])})).x.data;
      const n = Math.round(Math.sqrt(lab.grid.length));
      const grid = new ImageData(n * SIDE, n * SIDE);
      lab.grid.forEach((_, i) => paint(grid, out, i * 3 * PIXELS, (i % n) * SIDE, Math.floor(i / n) * SIDE));
      const recon = new ImageData(shown.length * SIDE, SIDE);
      shown.forEach((_, j) => paint(recon, out, (lab.grid.length + j) * 3 * PIXELS, j * SIDE, 0));
      return {grid, recon};
    } finally {
      session.release();
    }
  }

  // Every snapshot decoded in the background, nearest the shown one first; a move waits for none of them. One that
  // cannot be decoded (its file missing, the runtime failing) is named, and the others go on.
  async function decodeAll() {
    const lab = state.lab, todo = [];
    state.decoding = true;
    lab.family.forEach((member, b) => member.snapshots.forEach((_, t) => todo.push([b, t])));
    while (todo.length) {
      todo.sort((p, q) => (Math.abs(p[0] - state.beta) * 100 + Math.abs(p[1] - state.time))
                          - (Math.abs(q[0] - state.beta) * 100 + Math.abs(q[1] - state.time)));
      const [b, t] = todo.shift();
      try {
        state.pictures.set(key(b, t), await decodeSnapshot(b, t));
      } catch (error) {
        console.warn(`The Lab cannot decode ${snapshot(b, t).decoder}:`, error);
        state.failed.push(snapshot(b, t).decoder);
        state.root.dataset.failed = String(state.failed.length);
        $(".lab-status").textContent = `This page could not decode ${state.failed.length} of the family's snapshots `
          + `(${state.failed[0]}${state.failed.length > 1 ? ", ..." : ""}: ONNX Runtime Web or the file): their grid `
          + "and reconstructions stay dark; the map and the rate-distortion plane still follow the sliders.";
      }
      state.root.dataset.decoded = String(state.pictures.size);
      if (b === state.beta && t === state.time) draw();
    }
    state.root.dataset.ready = "yes";
    if (!state.failed.length) $(".lab-status").textContent = "";
  }

  // The plots' extents. A map's: the same for every snapshot of a run (its spread compares over training time),
  // the run's 99th percentile of |z|, at least the grid's square; the plane's and the KL bars': the family's.
  function bounds() {
    let rate = 0, kl = 0, low = Infinity, high = 0;
    const grid = Math.max(...state.lab.grid.map(z => z[0])), maps = [];
    for (const member of state.lab.family) {
      let map = grid;
      for (const shot of member.snapshots) {
        const extent = shot.means.map(m => Math.max(Math.abs(m[0]), Math.abs(m[1]))).sort((p, q) => p - q);
        map = Math.max(map, extent[Math.floor(0.99 * (extent.length - 1))]);
        rate = Math.max(rate, shot.rate);
        kl = Math.max(kl, ...shot.kl);
        if (shot.step > 0) low = Math.min(low, shot.distortion);
      }
      high = Math.max(high, member.snapshots[member.snapshots.length - 1].distortion);
      maps.push(Math.ceil(map * 1.1 * 2) / 2);
    }
    const span = Math.max(high - low, 10);
    return {maps, grid, rate: rate * 1.08 + 0.5, kl: kl * 1.1 + 0.1,
            low: low - 0.05 * span, high: high + 0.45 * span};
  }

  function drawMap(b, shot) {
    const view = $(".lab-map"), ctx = view.getContext("2d"), extent = state.bounds.maps[b], lab = state.lab;
    const toPixel = v => (v / extent + 1) / 2 * view.width, grid = state.bounds.grid;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, view.width, view.height);
    ctx.fillStyle = "#aaa";
    ctx.font = "11px sans-serif";
    ctx.fillText(`z0, z1 from -${extent} to ${extent}`, 6, view.height - 6);
    ctx.strokeStyle = "#888";  // the manifold grid's square
    ctx.setLineDash([4, 4]);
    ctx.strokeRect(toPixel(-grid), toPixel(-grid), toPixel(grid) - toPixel(-grid), toPixel(grid) - toPixel(-grid));
    ctx.setLineDash([]);
    ctx.globalAlpha = 0.85;
    shot.means.forEach((m, i) => {
      ctx.fillStyle = PALETTE[lab.digits.labels[i]];
      ctx.fillRect(toPixel(m[0]) - 1.5, view.height - toPixel(m[1]) - 1.5, 3, 3);
    });
    ctx.globalAlpha = 1;
  }

  // The grid and the reconstructions (under the digits, state.originals); dark while not decoded yet.
  function drawPictures(pictures) {
    const grid = $(".lab-grid").getContext("2d"), recon = $(".lab-recon").getContext("2d");
    recon.putImageData(state.originals, 0, 0);
    if (pictures) {
      grid.putImageData(pictures.grid, 0, 0);
      recon.putImageData(pictures.recon, 0, SIDE);
      return;
    }
    grid.fillStyle = recon.fillStyle = "#222";
    grid.fillRect(0, 0, grid.canvas.width, grid.canvas.height);
    recon.fillRect(0, SIDE, recon.canvas.width, SIDE);
  }

  // The reconstructed test digits as they are (lab.json: digits.pixels, (28, 28, 3) uint8 each, flattened).
  function originals() {
    const lab = state.lab, image = new ImageData(lab.digits.pixels.length * SIDE, SIDE);
    lab.digits.pixels.forEach((hwc, j) => {
      for (let i = 0; i < PIXELS; i++) {
        const p = (Math.floor(i / SIDE) * image.width + j * SIDE + (i % SIDE)) * 4;
        image.data.set([hwc[3 * i], hwc[3 * i + 1], hwc[3 * i + 2], 255], p);
      }
    });
    return image;
  }

  // The rate-distortion plane: the family's curve (each beta's last snapshot), this run's path during training,
  // and the snapshot shown. Distortions above the plot (the first steps') sit on its top edge.
  function drawPlane(b, t) {
    const view = $(".lab-rd"), ctx = view.getContext("2d"), {rate, low, high} = state.bounds, family = state.lab.family;
    const left = 46, bottom = view.height - 30, right = view.width - 10, top = 12;
    const px = r => left + r / rate * (right - left);
    const py = d => Math.max(top, bottom - (d - low) / (high - low) * (bottom - top));
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, view.width, view.height);
    ctx.strokeStyle = "#444";
    ctx.fillStyle = "#444";
    ctx.font = "11px sans-serif";
    ctx.beginPath();
    ctx.moveTo(left, top);
    ctx.lineTo(left, bottom);
    ctx.lineTo(right, bottom);
    ctx.stroke();
    ctx.fillText("rate (nats)", right - 60, bottom + 24);
    for (let r = 0; r <= rate; r += rate > 12 ? 5 : 2) ctx.fillText(String(r), px(r) - 3, bottom + 12);
    ctx.save();
    ctx.translate(11, (top + bottom) / 2 + 40);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText("distortion (nats)", 0, 0);
    ctx.restore();
    for (const d of [low, (low + high) / 2, high]) ctx.fillText(String(Math.round(d)), 16, py(d) + 4);
    const last = family.map(m => m.snapshots[m.snapshots.length - 1]);
    ctx.strokeStyle = "#999";
    ctx.beginPath();
    last.forEach((s, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, px(s.rate), py(s.distortion)));
    ctx.stroke();
    last.forEach((s, i) => {
      ctx.fillStyle = i === b ? "#0b63c5" : "#999";
      ctx.beginPath();
      ctx.arc(px(s.rate), py(s.distortion), 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillText(`\u03b2 ${family[i].beta}`, px(s.rate) + 5, py(s.distortion) - 5);
    });
    const path = family[b].snapshots.slice(0, t + 1);
    ctx.strokeStyle = "#0b63c5";
    ctx.beginPath();
    path.forEach((s, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, px(s.rate), py(s.distortion)));
    ctx.stroke();
    const now = path[path.length - 1];
    ctx.fillStyle = "#d62728";
    ctx.beginPath();
    ctx.arc(px(now.rate), py(now.distortion), 5.5, 0, 2 * Math.PI);
    ctx.fill();
  }

  function drawKL(shot) {
    const view = $(".lab-kl"), ctx = view.getContext("2d"), most = state.bounds.kl;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, view.width, view.height);
    ctx.font = "12px sans-serif";
    shot.kl.forEach((kl, j) => {
      const y = 10 + j * 30, width = kl / most * (view.width - 120);
      ctx.fillStyle = "#444";
      ctx.fillText(`z${j}`, 4, y + 14);
      ctx.fillStyle = "#0b63c5";
      ctx.fillRect(28, y, width, 20);
      ctx.fillStyle = "#444";
      ctx.fillText(`${kl.toFixed(2)} nats`, 34 + width, y + 14);
    });
  }

  // Draw the snapshot the sliders name: synchronous, from what the page holds.
  function draw() {
    const lab = state.lab, b = state.beta, t = state.time, member = lab.family[b], shot = snapshot(b, t);
    $(".lab-beta-value").textContent = `\u03b2 = ${member.beta}`;
    $(".lab-time-value").textContent = `step ${shot.step} (epoch ${shot.epoch.toFixed(2)})`;
    $(".lab-figures-now").textContent = `rate ${shot.rate.toFixed(2)} nats, distortion ${shot.distortion.toFixed(1)} `
      + `nats, -ELBO ${(shot.rate + shot.distortion).toFixed(1)} nats (MNIST test set, random hues); `
      + `digits of the class their 5 nearest neighbours on the map vote for: ${(100 * shot.neighbors_same_class).toFixed(0)}%; `
      + `digits inside the grid's square: ${(100 * shot.inside_grid).toFixed(0)}%`;
    state.root.querySelectorAll(".lab-region").forEach(p => { p.hidden = !p.dataset.members.split(",").includes(String(b)); });
    const pictures = state.pictures.get(key(b, t));
    drawMap(b, shot);
    drawPictures(pictures);
    drawPlane(b, t);
    drawKL(shot);
    state.root.dataset.pictures = pictures ? "yes" : "no";
    state.root.dataset.shown = key(b, t);
  }

  function stop() {
    clearInterval(state.playing);
    state.playing = null;
    $(".lab-play").textContent = "\u25b6 Play";
  }

  // Play: the training time forward, a snapshot each PLAY_STEP_MS, from the one shown (from the first, if the last
  // is shown), stopping at the last.
  function play() {
    const time = $(".lab-time"), last = Number(time.max);
    if (state.playing) return stop();
    if (last === 0) return;
    const show = t => { state.time = t; time.value = String(t); draw(); };
    if (state.time >= last) show(0);
    $(".lab-play").textContent = "\u23f8 Pause";
    state.playing = setInterval(() => {
      show(Math.min(state.time + 1, last));
      if (state.time >= last) stop();
    }, PLAY_STEP_MS);
  }

  // The Lab's HTML rendered (again, if gradio re-renders it): the family fetched once, the controls wired, drawn.
  async function attach(root) {
    if (state.playing) stop();
    state.root = root;
    root.dataset.attached = "yes";
    if (!state.lab) {
      try {
        const response = await fetch(base + "lab/lab.json");
        if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
        state.lab = await response.json();
      } catch (error) {
        $(".lab-status").textContent = `The Lab's files could not be loaded (${error.message}).`;
        return;
      }
      state.beta = Math.min(Number(root.dataset.startBeta || 0), state.lab.family.length - 1);
      state.time = state.lab.family[0].snapshots.length - 1;
      state.bounds = bounds();
      state.originals = originals();
    }
    const lab = state.lab, beta = $(".lab-beta"), time = $(".lab-time");
    beta.max = String(lab.family.length - 1);
    time.max = String(lab.family[0].snapshots.length - 1);
    beta.value = String(state.beta);
    time.value = String(state.time);
    beta.addEventListener("input", () => { state.beta = Number(beta.value); draw(); });
    time.addEventListener("input", () => {
      if (state.playing) stop();  // a hand on the slider stops play
      state.time = Number(time.value);
      draw();
    });
    $(".lab-play").addEventListener("click", play);
    draw();
    if (state.decoding) return;
    if (!window.ort) {
      $(".lab-status").textContent = "ONNX Runtime Web did not load: the grid and reconstructions cannot be drawn.";
      return;
    }
    window.ort.env.wasm.numThreads = 1;
    window.ort.env.wasm.wasmPaths = base + "vendor/onnxruntime-web/";
    decodeAll();
  }

  // gradio renders a tab's HTML when the tab is first shown: attach when #beta-lab appears.
  const watch = new MutationObserver(() => {
    const root = document.getElementById("beta-lab");
    if (root && !root.dataset.attached) attach(root);
  });
  watch.observe(document.documentElement, {childList: true, subtree: true});

  window.betaLab = {state, draw};
})();

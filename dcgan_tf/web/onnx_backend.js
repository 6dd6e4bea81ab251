"use strict";
// The in-browser backend of index.html, for the static folder of `dcgan-tf export
// --format=web` (dcgan_tf/artifacts/web_page.py): the page's loadInfo() reads model.json and
// renderTile(state) runs model.onnx with onnxruntime-web (WASM), with no server of ours.
//
// z is drawn exactly as TensorFlow draws it for an integer seed (dcgan_tf/models/latent.py):
// tf.random.stateless_normal([1, latent_dim], seed=[s, 0]) is Philox-4x32-10 (Salmon et al.
// 2011) keyed from the seed by one Philox round of the fixed key TensorFlow uses, then the
// Box-Muller transform on pairs of 23-bit uniforms. The same code reproduces
// stateless_uniform and stateless_fold_in, so truncation by resampling (components beyond
// +-t redrawn as sqrt(2) erfinv(erf(t / sqrt(2)) v), v ~ U(-1, 1) of the seed folded with 1)
// matches too. Every seed gives Python's z up to float32 rounding of log/sin/cos (~1e-6);
// tests/test_web_static.py checks the images against TensorFlow's.
const dcganLatent = (() => {
  const M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;

  function mulhi(a, b) {  // high 32 bits of the 64-bit product of two uint32
    const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
    const m1 = a1 * b0, m2 = a0 * b1;
    const mid = ((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
    return (a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + Math.floor(mid / 65536)) >>> 0;
  }
  function philox(counter, key) {  // 10 rounds -> 4 uint32
    let [c0, c1, c2, c3] = counter, [k0, k1] = key;
    for (let r = 0; r < 10; r++) {
      const h0 = mulhi(M0, c0), l0 = Math.imul(M0, c0) >>> 0;
      const h1 = mulhi(M1, c2), l1 = Math.imul(M1, c2) >>> 0;
      [c0, c1, c2, c3] = [(h1 ^ c1 ^ k0) >>> 0, l1, (h0 ^ c3 ^ k1) >>> 0, l0];
      k0 = (k0 + W0) >>> 0; k1 = (k1 + W1) >>> 0;
    }
    return [c0, c1, c2, c3];
  }
  // seed: [lo0, hi0, lo1, hi1], the two int64 seed words as uint32 halves
  function stream(seed) {  // TensorFlow's key and counter from a seed; block g -> 4 uint32
    const mix = philox(seed, [0x3ec8f720, 0x02461e29]);
    const key = [mix[0], mix[1]];
    return (g) => philox([g >>> 0, Math.floor(g / 4294967296), mix[2], mix[3]], key);
  }
  const unit = (x) => (x & 0x7fffff) / 8388608;  // 23 random bits -> [0, 1), as TensorFlow
  const f32 = Math.fround;
  const TWO_PI = f32(2 * Math.PI);

  function normal(seed, n) {
    const block = stream(seed), out = new Float32Array(n);
    for (let g = 0, i = 0; i < n; g++) {
      const x = block(g);
      for (let j = 0; j < 4 && i < n; j += 2) {
        const u1 = Math.max(unit(x[j]), 1e-7), v = f32(TWO_PI * unit(x[j + 1]));
        const r = f32(Math.sqrt(f32(-2 * f32(Math.log(u1)))));
        out[i++] = f32(Math.sin(v)) * r;
        if (i < n) out[i++] = f32(Math.cos(v)) * r;
      }
    }
    return out;
  }
  function uniform(seed, n, low, high) {
    const block = stream(seed), out = new Float32Array(n), width = f32(high - low);
    for (let g = 0, i = 0; i < n; g++) {
      const x = block(g);
      for (let j = 0; j < 4 && i < n; j++) out[i++] = f32(f32(unit(x[j]) * width) + low);
    }
    return out;
  }
  const intSeed = (s) => [s >>> 0, 0, 0, 0];  // seed s -> [s, 0] (s < 2^31)
  function foldIn(seed, data) {  // tf.random.experimental.stateless_fold_in(seed, data)
    const x = stream(seed)(0)[0];  // an int32 drawn from the seed, sign-extended
    return [x, x & 0x80000000 ? 0xffffffff : 0, data >>> 0, 0];
  }

  function erf(x) {  // via the Chebyshev fit of erfc in Numerical Recipes, |error| < 1.2e-7
    const t = 1 / (1 + 0.5 * Math.abs(x));
    const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 +
      t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 +
      t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0 ? y : -y;
  }
  function erfinv(x) {  // M. Giles (2010), single precision
    let w = -Math.log((1 - x) * (1 + x)), p;
    if (w < 5) {
      w -= 2.5;
      p = 2.81022636e-08;
      for (const c of [3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
        -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]) p = c + p * w;
    } else {
      w = Math.sqrt(w) - 3;
      p = -0.000200214257;
      for (const c of [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
        -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]) p = c + p * w;
    }
    return p * x;
  }

  // The z of one integer seed: latent "normal" or "uniform", truncated at t (null: not) by
  // "resample" (normal only; uniform z is always scaled) or "scale".
  function zForSeed(seed, latentDim, latent, truncation, method) {
    const z = latent === "uniform" ? uniform(intSeed(seed), latentDim, -1, 1)
      : normal(intSeed(seed), latentDim);
    if (truncation === null || truncation === undefined) return z;
    const t = f32(truncation);
    if (latent === "uniform" || method === "scale") return z.map((v) => f32(v * t));
    const v = uniform(foldIn(intSeed(seed), 1), latentDim, -1, 1);
    const e = erf(t / Math.SQRT2);
    return z.map((zi, i) => (Math.abs(zi) <= t ? zi
      : Math.min(t, Math.max(-t, Math.SQRT2 * erfinv(e * v[i])))));
  }
  function slerp(a, b, t) {  // dcgan_tf.models.latent.slerp
    const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const na = norm(a), nb = norm(b);
    const dot = a.reduce((s, x, i) => s + (x / na) * (b[i] / nb), 0);
    const omega = Math.acos(Math.min(1, Math.max(-1, dot)));
    if (omega < 1e-6) return a.map((x, i) => (1 - t) * x + t * b[i]);
    const s = Math.sin(omega), wa = Math.sin((1 - t) * omega) / s, wb = Math.sin(t * omega) / s;
    return a.map((x, i) => wa * x + wb * b[i]);
  }
  return {normal, uniform, foldIn, intSeed, zForSeed, slerp, erf, erfinv};
})();

// The server's checks of seed, seed_b and count (dcgan_tf/web/api.py), with its messages: a
// typed seed beyond 2^32 would otherwise wrap silently to another seed's images, a count
// above max_count would stall the tab, and 0 or 1.5 would fail in a canvas or typed array.
function checkInteger(name, value, low, high) {
  if (!Number.isInteger(value) || value < low || value > high) {
    throw new Error(`${name} must be an integer in [${low}, ${high}], got ${value}.`);
  }
}

// The backend object index.html uses: {loadInfo(), renderTile(state)}; needs window.ort
// (ort.wasm.min.js, loaded by the page before this file).
const dcganOnnxBackend = {
  info: null, session: null,
  async loadInfo() {
    const r = await fetch("model.json");
    if (!r.ok) throw new Error(`model.json: HTTP ${r.status}`);
    this.info = await r.json();
    // One thread: a plain static server sends no cross-origin-isolation headers, without
    // which browsers refuse WASM threads (ort would fall back with a console warning).
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = new URL("./", location.href).href;
    this.session = await ort.InferenceSession.create(this.info.onnx.file,
      {executionProviders: ["wasm"]});
    return this.info;
  },
  // state -> Blob (a PNG of the tile): the z recipe of dcgan_tf/serve.py's tile_png.
  async renderTile(state) {
    const info = this.info, L = info.latent_dim, n = state.count;
    checkInteger("seed", state.seed, 0, info.max_seed);
    checkInteger("count", n, 1, info.max_count);
    if (state.seed_b !== null) checkInteger("seed_b", state.seed_b, 0, info.max_seed);
    const zOf = (seed) => dcganLatent.zForSeed(seed, L, info.latent, state.truncation,
                                               info.truncation_method);
    const z = new Float32Array(n * L);
    let offset = null;
    if (state.directions && info.directions.length) {
      offset = new Float64Array(L);
      info.directions.forEach((d, k) => {
        const a = state.directions[k] || 0;
        for (let j = 0; j < L; j++) offset[j] += a * d.vector[j];
      });
    }
    for (let i = 0; i < n; i++) {
      let zi = zOf(state.seed + i);
      if (state.seed_b !== null && state.t > 0) {
        zi = Float32Array.from(dcganLatent.slerp(zi, zOf(state.seed_b + i), state.t));
      }
      if (offset) zi = zi.map((v, j) => Math.fround(v + Math.fround(offset[j])));
      z.set(zi, i * L);
    }
    const feeds = {z: new ort.Tensor("float32", z, [n, L])};
    if (info.num_classes) {
      const labels = new Float32Array(n * info.num_classes);
      for (let i = 0; i < n; i++) labels.set(state.labels, i * info.num_classes);
      feeds.labels = new ort.Tensor("float32", labels, [n, info.num_classes]);
    }
    const images = (await this.session.run(feeds)).images;  // uint8 [n, H, W, C]
    return tileBlob(images.data, images.dims);
  },
};

// uint8 NHWC images -> a PNG Blob laid out as dcgan_tf.utils.tiles.make_tile (ceil(sqrt(n))
// columns, 2 white pixels between and around).
function tileBlob(data, [n, h, w, c]) {
  const cols = Math.ceil(Math.sqrt(n)), rows = Math.ceil(n / cols), p = 2;
  const canvas = document.createElement("canvas");
  canvas.width = cols * w + (cols + 1) * p; canvas.height = rows * h + (rows + 1) * p;
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(canvas.width, canvas.height);
  out.data.fill(255);
  for (let i = 0; i < n; i++) {
    const y0 = p + Math.floor(i / cols) * (h + p), x0 = p + (i % cols) * (w + p);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = ((i * h + y) * w + x) * c, dst = ((y0 + y) * canvas.width + x0 + x) * 4;
        for (let k = 0; k < 3; k++) out.data[dst + k] = data[src + (c === 1 ? 0 : k)];
      }
    }
  }
  ctx.putImageData(out, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

if (typeof module !== "undefined") module.exports = {dcganLatent};  // node, for checks

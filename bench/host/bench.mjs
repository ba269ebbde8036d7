// bench.mjs: etch (C and LLVM backends) vs ONNX Runtime on the host, in the
// same run.
//
// For each model: a deterministic random input (xorshift32 seeded from the
// model's name, uniform in [0, 1)) written as .npy; ORT (onnxruntime-node, one
// intra-op thread, sequential, all graph optimizations) timed over many calls,
// minus the binding's per-call overhead, which is the median time of a model
// that does next to nothing (models/overhead.onnx: y = x[0:e]) fed an input of
// the same bytes and returning as many elements as the model's outputs (an
// Identity fed the input would also copy out a whole input's worth of
// output, which for VWW's 110 KB image against its 2 outputs overstated the
// overhead by tens of us); etch
// timed by `etch run --backend c|llvm --repeat N --stats` (the median of N
// calls of the compiled entry point, no process or binding cost). Each side takes
// the median over --reps repetitions. Also printed: GFLOP/s of etch (2 flops
// per multiply-add of conv/gemm/matmul, from the shapes `etch dump` prints),
// the planned arena against its lower bound, the wall time of
// `etch compile` (process included, best of 3), and the largest difference
// between etch's and ORT's outputs, a check that both ran the same model.
//
// Usage: node bench/host/bench.mjs [--etch build/etch] [--reps 5] [--runs N]
//        [--only NAME,...]   (run from anywhere; paths are repo-relative)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'bench', 'package.json'));
const ort = require('onnxruntime-node');

const MODELS = [
  // name, what etch compiles, what ORT runs
  ['ad01_fp32', 'tests/models/mlperf-tiny/ad01_fp32.onnx'],
  ['kws_ref_model_float32', 'tests/models/mlperf-tiny/kws_ref_model_float32.onnx'],
  ['ic', 'tests/models/mlperf-tiny/ic.onnx'],
  ['vww_96_float', 'tests/models/mlperf-tiny/vww_96_float.onnx'],
  ['digits_mlp', 'examples/digits_mlp/digits_mlp.etch', 'bench/host/models/digits_mlp.onnx'],
  ['digits_cnn', 'examples/digits_cnn/digits_cnn.etch', 'bench/host/models/digits_cnn.onnx'],
  // A dense layer of 128 rows (make_models.py): the gemm register tiles.
  ['dense_seq', 'bench/host/models/dense_seq.onnx'],
  // int8 (pre-quantized QDQ): etch's int8 kernels vs ORT's fused int8 ones.
  ['ad01_int8', 'tests/models/mlperf-tiny/ad01_int8.onnx'],
  ['kws_ref_model', 'tests/models/mlperf-tiny/kws_ref_model.onnx'],
];

function parseArgs(argv) {
  const o = { etch: path.join(root, 'build', 'etch'), reps: 5, runs: 0, only: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--etch') { o.etch = path.resolve(v); i++; }
    else if (a === '--reps') { o.reps = Math.max(1, parseInt(v, 10)); i++; }
    else if (a === '--runs') { o.runs = Math.max(1, parseInt(v, 10)); i++; }
    else if (a === '--only') { o.only = v.split(','); i++; }
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

// xorshift32 from an FNV-1a hash of the name: the same input every run;
// floats in [0, 1), or int8 over the whole range.
function randomInput(name, n, int8) {
  let h = 2166136261;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  let s = h || 1;
  const out = int8 ? new Int8Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = int8 ? (s >>> 24) - 128 : s / 4294967296;
  }
  return out;
}

function writeNpy(file, dims, data) {
  const descr = data instanceof Int8Array ? '|i1' : '<f4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre, 0);
  pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function readNpy(file) {
  const b = fs.readFileSync(file), hlen = b.readUInt16LE(8);
  const off = 10 + hlen, body = b.buffer.slice(b.byteOffset + off, b.byteOffset + b.length);
  return b.toString('latin1', 10, off).includes("'|i1'") ? new Int8Array(body) : new Float32Array(body);
}

// Input name/shape and conv/gemm/matmul flops from the graph etch prints.
function describe(etch, model) {
  const text = execFileSync(etch, ['dump', path.join(root, model)], { maxBuffer: 1 << 30 }).toString();
  const shapes = new Map();
  let input = null, flops = 0;
  const dimsOf = (s) => (s.trim() === '' ? [] : s.split(',').map((d) => parseInt(d, 10)));
  const numel = (d) => d.reduce((a, b) => a * b, 1);
  for (const line of text.split('\n')) {
    let m = /^\s*(input|const)\s+(\S+)\s*:\s*(\w+)\[([^\]]*)\]/.exec(line);
    if (m) {
      shapes.set(m[2], dimsOf(m[4]));
      if (m[1] === 'input' && !input) input = { name: m[2], dims: dimsOf(m[4]), int8: m[3] === 'i8' };
      continue;
    }
    m = /^\s*(\S+)\s*:\s*\w+\[([^\]]*)\]\s*=\s*(\w+)\(([^,)]*)(?:,\s*([^,)]*))?/.exec(line);
    if (!m) continue;
    const out = dimsOf(m[2]), op = m[3], a = shapes.get(m[4].trim()), w = shapes.get((m[5] || '').trim());
    shapes.set(m[1], out);
    if (op === 'conv' && w) flops += 2 * numel(out) * numel(w.slice(1));
    else if ((op === 'gemm' || op === 'matmul') && a) {
      const tA = /trans_a\s*=\s*1/.test(line);
      const k = op === 'gemm' && tA ? a[0] : a[a.length - 1];
      flops += 2 * numel(out) * k;
    }
  }
  if (!input) throw new Error(`${model}: no input in etch dump`);
  return { input, flops };
}

function timeOrtMs(session, feeds, runs) {
  return (async () => {
    const t = [];
    for (let i = 0; i < runs; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      t.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    return median(t);
  })();
}

function etchRun(o, model, npy, outDir, runs, backend) {
  const text = execFileSync(o.etch, ['run', path.join(root, model), '--backend', backend, '--repeat',
    String(runs), '--stats', '--input', npy, '--output-dir', outDir]).toString();
  const get = (k) => { const m = new RegExp(`^${k}: (\\S+)`, 'm').exec(text); return m ? Number(m[1]) : NaN; };
  return { us: get('latency_us'), arena: get('arena_bytes'), bound: get('arena_lower_bound') };
}

function compileMs(o, model, outDir) {
  const t = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    execFileSync(o.etch, ['compile', path.join(root, model), '-o', outDir]);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return Math.min(...t);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'etch-bench-'));
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all' };
  const ident = await ort.InferenceSession.create(path.join(here, 'models', 'overhead.onnx'), opts);
  const rows = [];
  for (const [name, etchModel, ortModel = etchModel] of MODELS) {
    if (o.only && !o.only.includes(name)) continue;
    const { input, flops } = describe(o.etch, etchModel);
    const n = input.dims.reduce((a, b) => a * b, 1);
    const data = randomInput(name, n, input.int8);
    const npy = path.join(tmp, `${name}.npy`);
    writeNpy(npy, input.dims, data);
    const session = await ort.InferenceSession.create(path.join(root, ortModel), opts);
    const feeds = { [session.inputNames[0]]: new ort.Tensor(input.int8 ? 'int8' : 'float32', data, input.dims) };
    const outs = await session.run(feeds);
    const outN = session.outputNames.reduce((s, k) => s + outs[k].data.length, 0);
    const xN = input.int8 ? Math.ceil(n / 4) : n; /* the same bytes */
    const idFeeds = { x: new ort.Tensor('float32', new Float32Array(xN).fill(0.5), [xN]),
      e: new ort.Tensor('int64', BigInt64Array.from([BigInt(outN)]), [1]) };
    // Enough calls per repetition for ~0.2 s of ORT time, at least 20.
    const first = await timeOrtMs(session, feeds, 5);
    const runs = o.runs || Math.max(20, Math.min(2000, Math.round(2e5 / Math.max(first, 1))));
    await timeOrtMs(ident, idFeeds, 20);
    const ortT = [], idT = [], etchT = [], llvmT = [];
    let plan = null;
    const outDir = path.join(tmp, name);
    for (let r = 0; r < o.reps; r++) {
      ortT.push(await timeOrtMs(session, feeds, runs));
      idT.push(await timeOrtMs(ident, idFeeds, runs));
      plan = etchRun(o, etchModel, npy, outDir, runs, 'c');
      etchT.push(plan.us);
      llvmT.push(etchRun(o, etchModel, npy, path.join(tmp, `${name}_llvm`), runs, 'llvm').us);
    }
    const res = await session.run(feeds);
    const ref = res[session.outputNames[0]].data;
    const outFile = fs.readdirSync(outDir).filter((f) => f.endsWith('.npy'))[0];
    const got = readNpy(path.join(outDir, outFile));
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ref[i] - got[i]));
    // Below 1 us over the overhead, ORT's own time is lost in the binding's
    // noise (a tiny model): no ratio then.
    const overhead = median(idT), ortUs = median(ortT) - overhead, etchUs = median(etchT);
    const llvmUs = median(llvmT), timed = ortUs >= 1;
    rows.push({ name, etchUs, llvmUs, ortUs, ortRaw: median(ortT), overhead, ratio: timed ? etchUs / ortUs : NaN,
      llvmRatio: timed ? llvmUs / ortUs : NaN,
      gflops: flops / (etchUs * 1e3), arena: plan.arena, bound: plan.bound,
      compile: compileMs(o, etchModel, path.join(tmp, `${name}_c`)), err, flops });
  }
  const pad = (s, w) => String(s).padStart(w);
  console.log(`host: ${os.cpus()[0].model}, node ${process.version}, onnxruntime-node ${require('onnxruntime-node/package.json').version}, reps ${o.reps}`);
  console.log(['model'.padEnd(22), pad('MFLOP', 8), pad('etch us', 10), pad('ORT us', 10), pad('etch/ORT', 9),
    pad('llvm us', 10), pad('llvm/ORT', 9),
    pad('GFLOP/s', 8), pad('arena B', 9), pad('bound B', 9), pad('ratio', 6), pad('compile ms', 10),
    pad('ORT raw', 9), pad('ovh us', 7), pad('max|d|', 9)].join(' '));
  const ratio = (x) => (Number.isNaN(x) ? 'n/a' : x.toFixed(2));
  for (const r of rows)
    console.log([r.name.padEnd(22), pad((r.flops / 1e6).toFixed(2), 8), pad(r.etchUs.toFixed(1), 10),
      pad(r.ortUs >= 1 ? r.ortUs.toFixed(1) : '<1', 10), pad(ratio(r.ratio), 9), pad(r.llvmUs.toFixed(1), 10),
      pad(ratio(r.llvmRatio), 9), pad(r.gflops.toFixed(2), 8),
      pad(r.arena, 9), pad(r.bound, 9), pad((r.arena / Math.max(r.bound, 1)).toFixed(3), 6),
      pad(r.compile.toFixed(1), 10), pad(r.ortRaw.toFixed(1), 9), pad(r.overhead.toFixed(1), 7),
      pad(r.err.toExponential(1), 9)].join(' '));
  if (rows.some((r) => Number.isNaN(r.ratio)))
    console.log("n/a: ORT's time is within 1 us of its binding's per-call overhead (ovh us); no ratio");
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((e) => { console.error(e); process.exit(1); });

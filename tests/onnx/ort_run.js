#!/usr/bin/env node
// ort_run.js: runs an ONNX model with ONNX Runtime (onnxruntime-node, CPU,
// one intra-op and one inter-op thread) on .npy inputs and writes .npy outputs.
//
//   node tests/onnx/ort_run.js [--no-opt] MODEL OUTDIR IN0.npy [IN1.npy ...]
//
// --no-opt turns ORT's graph optimizations off, so it evaluates the graph
// as written (a QDQ model as float ops between Quantize/DequantizeLinear)
// instead of fusing it into its own integer kernels.
// Inputs bind to the session's inputs in order (the ONNX graph's input order,
// initializers excluded: the order etch uses too). Output i is written to
// OUTDIR/out<i>.npy, and one line `i NAME DTYPE [D0,D1,...]` per output goes
// to stdout. The npy reader/writer handles format versions 1-3, C order,
// little-endian f4/f8/i1/u1/i2/i4/i8/b1: what etch's tests exchange.
// onnxruntime-node is taken from bench/node_modules (npm install
// --ignore-scripts in bench/), else from the usual module search path.
// Exit status: 0 on success, 1 on any error (message on stderr), 3 when
// onnxruntime-node cannot be loaded, so a caller can tell "no ORT" apart.
'use strict';

const fs = require('fs');
const path = require('path');

function loadOrt() {
  const local = path.join(__dirname, '..', '..', 'bench', 'node_modules', 'onnxruntime-node');
  for (const m of [local, 'onnxruntime-node']) {
    try {
      return require(m);
    } catch (e) {
      if (m !== local) {
        process.stderr.write(`ort_run.js: cannot load onnxruntime-node: ${e.message}\n`);
      }
    }
  }
  process.exit(3);
}

// descr -> [ORT type, TypedArray, element size]
const DTYPES = {
  '<f4': ['float32', Float32Array, 4],
  '<f8': ['float64', Float64Array, 8],
  '|i1': ['int8', Int8Array, 1],
  '|u1': ['uint8', Uint8Array, 1],
  '<i2': ['int16', Int16Array, 2],
  '<i4': ['int32', Int32Array, 4],
  '<i8': ['int64', BigInt64Array, 8],
  '|b1': ['bool', Uint8Array, 1],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: malformed .npy header`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  if (buf.length < off + n * dt[2]) throw new Error(`${file}: truncated data`);
  // Copy so the typed array is aligned whatever the header length.
  const bytes = new Uint8Array(n * dt[2]);
  bytes.set(buf.subarray(off, off + n * dt[2]));
  const data = new dt[1](bytes.buffer, 0, n);
  return { type: dt[0], data: dt[0] === 'bool' ? Uint8Array.from(data) : data, dims };
}

function writeNpy(file, type, data, dims) {
  const descr = Object.keys(DTYPES).find((k) => DTYPES[k][0] === type);
  if (!descr) throw new Error(`output type ${type} cannot be written as .npy`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + length (2) + header + '\n', padded to 64 bytes.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const view = type === 'bool' ? Uint8Array.from(data, (v) => (v ? 1 : 0)) : data;
  const body = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const args = process.argv.slice(2);
  if (args.length < 2) {
    process.stderr.write('usage: node ort_run.js MODEL OUTDIR IN0.npy [IN1.npy ...]\n');
    process.exit(1);
  }
  const noOpt = args[0] === '--no-opt';
  const [model, outdir, ...inputs] = noOpt ? args.slice(1) : args;
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: noOpt ? 'disabled' : 'all',
  });
  if (inputs.length !== session.inputNames.length) {
    throw new Error(`${model} has ${session.inputNames.length} inputs ` +
                    `(${session.inputNames.join(', ')}), got ${inputs.length} files`);
  }
  const feeds = {};
  session.inputNames.forEach((name, i) => {
    const t = readNpy(inputs[i]);
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  });
  const results = await session.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  session.outputNames.forEach((name, i) => {
    const t = results[name];
    writeNpy(path.join(outdir, `out${i}.npy`), t.type, t.data, t.dims);
    process.stdout.write(`${i} ${name} ${t.type} [${t.dims.join(',')}]\n`);
  });
}

main().catch((e) => {
  process.stderr.write(`ort_run.js: ${e.message}\n`);
  process.exit(1);
});

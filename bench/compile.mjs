// Times `WebAssembly.compile` of the production wasm (argument 1) in this node's V8, median of
// 5 copies made unique by a custom section (so no compile cache answers), and writes
// {"compile_ms", "node"} to argument 2. scripts/bench.sh runs it with node 22: node 20's V8
// cannot compile this wasm (it lacks the exception-handling opcode `try_table`), and workerd
// compiles modules at load and forbids compiling at run time.
import fs from 'node:fs';

const [wasmPath, outPath] = process.argv.slice(2);
const wasm = fs.readFileSync(wasmPath);
const times = [];
for (let r = 0; r < 5; r++) {
  const unique = Buffer.concat([wasm, Buffer.from([0, 6, 1, 0x78, r, 0, 0, 0])]);
  const t0 = process.hrtime.bigint();
  await WebAssembly.compile(unique);
  times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
fs.writeFileSync(outPath, JSON.stringify({ compile_ms: times[2], node: process.version }) + '\n');

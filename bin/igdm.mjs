#!/usr/bin/env node
// The CLI entry. The sources are TypeScript run by Node's type stripping (Node >= 22.18 / 24).
import v8 from 'node:v8';

// Memory (measured in bench/ingest; BENCHMARKS.md). These flags are set before the first .ts file
// loads and before the ingest worker's isolate is made, so they reach it:
// - Type stripping runs SWC as WebAssembly; tiering it up to TurboFan leaves ~10 MB in malloc arenas
//   for good, while the baseline compiler strips the few dozen files as fast.
v8.setFlagsFromString('--liftoff-only');
v8.setFlagsFromString('--no-wasm-tier-up');
v8.setFlagsFromString('--no-wasm-dynamic-tiering');
// - A young generation of 2 × 4 MB (V8 grows it to 2 × 64 MB under a high allocation rate). The
//   main isolate exists already: `npm start` passes the same flag on the command line for it.
v8.setFlagsFromString('--max-semi-space-size=4');
// - A full GC once the old generation has grown by 20 % (V8 lets it double first).
v8.setFlagsFromString('--heap-growing-percent=20');

await import('../src/cli/main.ts');

// A worker thread for test/store/sqlite.test.ts: a worker's side of the write gate (lockSync, as the
// ingest worker or the projector), incrementing a shared counter non-atomically while it holds it.
import { workerData } from 'node:worker_threads';
import { WriteGate } from '../../src/store/write-gate.ts';

const {
  gate: buffer,
  counter: counterBuffer,
  times,
  party,
} = workerData as {
  gate: SharedArrayBuffer;
  counter: SharedArrayBuffer;
  times: number;
  party: 'ingest' | 'projector';
};
const gate = new WriteGate(party, buffer);
const counter = new Int32Array(counterBuffer);
for (let i = 0; i < times; i++) {
  gate.lockSync();
  const n = counter[0]!;
  const until = performance.now() + 0.2;
  while (performance.now() < until) {} // held a moment, as a commit would
  counter[0] = n + 1;
  gate.unlock();
}

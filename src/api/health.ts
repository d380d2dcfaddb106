import type { FastifyInstance } from 'fastify';
import type { IngestWriter } from '../ingest/writer.ts';
import { freeDiskBytes } from '../store/files.ts';
import type { Store } from '../store/index.ts';
import { probe } from '../store/settings.ts';

// GET /healthz: the process is alive. GET /readyz: igdm can take webhooks and show what they
// changed; 503 with the reason of each part that cannot.

export interface HealthDeps {
  store: Store;
  writer: IngestWriter;
  /** Less free space than this on the store's disk is not ready (0: not checked). */
  minFreeDiskBytes: number;
}

interface Part {
  ok: boolean;
  reason?: string;
}

const ok: Part = { ok: true };

async function storePart(store: Store): Promise<Part> {
  const damage = store.damage();
  if (damage) return { ok: false, reason: `damaged: ${damage}` };
  try {
    await probe(store.db);
    return ok;
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

function applyPart(writer: IngestWriter): Part & { since?: string } {
  const failure = writer.applyFailure;
  if (!failure) return ok;
  return {
    ok: false,
    since: new Date(failure.since).toISOString(),
    reason: `stored events cannot be applied (retrying): ${failure.message}`,
  };
}

function diskPart(store: Store, min: number): Part & { freeBytes: number } {
  const freeBytes = freeDiskBytes(store.sqlitePath);
  if (freeBytes >= min) return { ok: true, freeBytes };
  const mib = (n: number) => `${Math.floor(n / 1024 / 1024)} MiB`;
  return {
    ok: false,
    freeBytes,
    reason: `${mib(freeBytes)} free, under IGDM_MIN_FREE_DISK_MB (${mib(min)})`,
  };
}

export async function healthRoutes(app: FastifyInstance, deps: HealthDeps) {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const [store, ingest] = await Promise.all([
      storePart(deps.store),
      deps.writer
        .ping()
        .then((answers) => (answers ? ok : { ok: false, reason: 'the ingest worker does not answer' })),
    ]);
    const parts = {
      store,
      ingest,
      apply: applyPart(deps.writer),
      disk: diskPart(deps.store, deps.minFreeDiskBytes),
    };
    const ready = Object.values(parts).every((p) => p.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', ...parts });
  });
}

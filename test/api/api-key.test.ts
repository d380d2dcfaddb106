import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { apiKeyHash, hashApiKey } from '../../src/api/api-key.ts';
import { createLogger } from '../../src/log.ts';
import { openStore, type Store } from '../../src/store/index.ts';

// The API key: IGDM_API_KEY when set; otherwise one generated on the first start, printed once and
// kept only as its hash, which later starts use.

let store: Store;
const log = createLogger('silent');

beforeAll(async () => {
  store = await openStore('sqlite::memory:');
});
afterAll(async () => {
  await store?.close();
});

it('a key generated on the first start is printed once, and its hash used from then on', async () => {
  const printed: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    const first = await apiKeyHash(store.db, null, log);
    const key = /\n {2}(igdm_\S+)\n/.exec(printed.join(''))?.[1];
    expect(key, printed.join('')).toBeDefined();
    expect(first).toEqual(hashApiKey(key!));
    expect(await apiKeyHash(store.db, null, log)).toEqual(first);
    expect(printed).toHaveLength(1);
  } finally {
    write.mockRestore();
  }
});

it('IGDM_API_KEY wins over a generated key', async () => {
  const configured = 'configured-key-0123456789';
  expect(await apiKeyHash(store.db, configured, log)).toEqual(hashApiKey(configured));
});

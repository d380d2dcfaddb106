import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

// The inbox, built into web/dist and served by igdm at / (src/api/inbox.ts): hashed file names
// under assets/, which igdm caches for a year, each with a .br and a .gz beside it that igdm sends
// to browsers that take them. `npm run dev --workspace @igdm/web` serves it with hot reload,
// talking to an igdm on port 3000 (IGDM_URL).
const igdm = process.env['IGDM_URL'] ?? 'http://localhost:3000';
const root = fileURLToPath(new URL('.', import.meta.url));

/** Writes NAME.br and NAME.gz for each script and style sheet of the build. */
function precompress(): Plugin {
  return {
    name: 'igdm-precompress',
    apply: 'build',
    writeBundle(options) {
      const dir = join(options.dir!, 'assets');
      for (const name of readdirSync(dir)) {
        if (!/\.(js|css|svg)$/.test(name)) continue;
        const bytes = readFileSync(join(dir, name));
        writeFileSync(join(dir, `${name}.br`), brotliCompressSync(bytes));
        writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes, { level: 9 }));
      }
    },
  };
}

/**
 * Fetches the app (React and the screens) beside the small entry, which starts the first screen's
 * requests before importing it.
 */
function preloadApp(): Plugin {
  return {
    name: 'igdm-preload-app',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        const app = Object.values(ctx.bundle ?? {}).find((c) => c.type === 'chunk' && c.name === 'mount');
        if (!app) return [];
        return [
          {
            tag: 'link',
            attrs: { rel: 'modulepreload', crossorigin: true, href: `/${app.fileName}` },
            injectTo: 'head',
          },
        ];
      },
    },
  };
}

export default defineConfig({
  root,
  plugins: [react(), precompress(), preloadApp()],
  // The SDK's verifyWebhook (for webhook receivers, not used here) imports node:crypto.
  resolve: { alias: { 'node:crypto': join(root, 'src/lib/no-node-crypto.ts') } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: false },
  server: { proxy: { '/v1': igdm, '/sandbox': igdm } },
});

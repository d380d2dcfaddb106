import { readFileSync } from 'node:fs';

// The README's automation example, as written there: the engine's tests and bench/e2e run it, so
// that the README's example is what works. (No test framework here: the benchmark imports it too.)

/** The YAML block of the README's Automation section. */
export const README_CONFIG = (() => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Automation'));
  return /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
})();

// A Dockerfile read into its stages and instructions, as far as test/deploy.test.ts needs: no image
// registry is reachable from the test machines, so the image cannot be built there; its instructions
// are checked against the repository instead.

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, ... */
  op: string;
  args: string;
}

export interface Stage {
  /** FROM's image, with the global ARGs' defaults put in. */
  image: string;
  name: string | null;
  instructions: Instruction[];
}

export interface Copy {
  from: string | null;
  sources: string[];
  dest: string;
}

/** The stages, in order (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (!line && !pending)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  const globals: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { op: op!.toUpperCase(), args: args! };
    if (instruction.op === 'FROM') {
      const [image, as, name] = instruction.args
        .replace(/\$\{(\w+)\}/g, (_, v: string) => globals[v] ?? '')
        .split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name! : null, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.op === 'ARG') {
        const [key, value] = instruction.args.split('=');
        globals[key!] = value ?? '';
      }
    } else stages.at(-1)!.instructions.push(instruction);
  }
  return stages;
}

export const all = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);

export function copyOf(instruction: Instruction): Copy {
  const words = instruction.args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** An exec form (`["node", "x"]`) as its words. */
export const execForm = (args: string): string[] => JSON.parse(args) as string[];

/** ENV's names and values (the `KEY=value KEY2=value2` form). */
export function envOf(instruction: Instruction): Record<string, string> {
  return Object.fromEntries(
    instruction.args
      .trim()
      .split(/\s+/)
      .map((pair) => pair.split('=') as [string, string]),
  );
}

/** RUN's shell commands, split at `&&`, each as its words. */
export const commandsOf = (instruction: Instruction): string[][] =>
  instruction.args.split('&&').map((c) => c.trim().split(/\s+/));

/** Whether a .dockerignore pattern list leaves `path` (relative to the context) out. */
export function ignored(patterns: string[], path: string): boolean {
  const parts = path.split('/');
  let out = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = negate ? raw.slice(1) : raw;
    const re = new RegExp(
      `^${pattern
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/^\.\*\//, '(.*/)?')}$`,
    );
    // A pattern that matches a folder leaves out everything in it.
    if (parts.some((_, i) => re.test(parts.slice(0, i + 1).join('/')))) out = !negate;
  }
  return out;
}

/** .dockerignore's patterns. */
export const ignorePatterns = (text: string): string[] =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

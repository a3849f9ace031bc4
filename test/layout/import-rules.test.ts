// The layout is the architecture: these rules keep the floors in order. A lower floor never
// imports an upper one, so a newcomer can read the engine without the edges, and the edges
// without the commands.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

/** Every .ts file under `dir` (tests included unless `tests` is false). */
function sources(dir: string, tests = true): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (rel.endsWith('.ts') && (tests || !rel.endsWith('.test.ts'))) out.push(rel);
    }
  };
  walk(dir);
  return out;
}

/** The top-level folders a file imports from (relative imports only). */
function importedFolders(file: string): Array<{ spec: string; folder: string }> {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const found: Array<{ spec: string; folder: string }> = [];
  for (const m of src.matchAll(/(?:from|import|require)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!));
    found.push({ spec: m[1]!, folder: target.split('/')[0]! });
  }
  return found;
}

function violations(files: string[], forbidden: string[]): string[] {
  return files.flatMap((f) =>
    importedFolders(f)
      .filter((i) => forbidden.includes(i.folder))
      .map((i) => `${f} imports ${i.spec}`),
  );
}

describe('import rules', () => {
  it('core/ imports nothing above it', () => {
    expect(violations(sources('core'), ['runtime', 'connectors', 'processors', 'models', 'cli', 'evaluation', 'topology'])).toEqual([]);
  });

  it('processors/ never import the runtime or the edges', () => {
    expect(violations(sources('processors', false), ['runtime', 'connectors', 'cli'])).toEqual([]);
  });

  it('models/ never import the runtime, the edges or the commands', () => {
    expect(violations(sources('models', false), ['runtime', 'connectors', 'cli', 'processors'])).toEqual([]);
  });

  it('runtime/ (the engine) never imports the edges, the evaluation tools or the commands', () => {
    expect(violations(sources('runtime', false), ['connectors', 'evaluation', 'cli'])).toEqual([]);
  });

  it('connectors/ and evaluation/ never import the commands', () => {
    expect(violations([...sources('connectors', false), ...sources('evaluation', false)], ['cli'])).toEqual([]);
  });

  it('finds imports at all (the rules above would pass vacuously otherwise)', () => {
    expect(importedFolders('runtime/kafka/kafka-runtime.ts').map((i) => i.folder)).toEqual(
      expect.arrayContaining(['core', 'processors', 'topology', 'runtime']),
    );
  });
});

describe('file size', () => {
  it('keeps every source file at 400 lines or fewer (generated files aside)', () => {
    const dirs = ['core', 'schemas', 'processors', 'models', 'topology', 'runtime', 'connectors', 'evaluation', 'cli', 'bench', 'test', 'scripts'];
    const long = dirs
      .flatMap((d) => sources(d))
      .filter((f) => !f.startsWith('schemas/generated/'))
      .map((f) => ({ f, lines: fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').length }))
      .filter((x) => x.lines > 401) // a final newline makes one empty last element
      .map((x) => `${x.f}: ${x.lines - 1} lines`);
    expect(long).toEqual([]);
  });
});

describe('shared resources', () => {
  // Shared resources (providers, detector sessions) belong to a runtime's Resources
  // (core/resources.ts), which closes them on stop. A module-level registry would outlive
  // every runtime and leak between tests. Each entry here says why it is not one.
  const ALLOWED: Record<string, string> = {
    'models/llm/resilient-provider.ts warnedUnpriced': 'log de-duplication (warn once per process about an unpriced model); holds nothing to close',
    'models/reward/python-sandbox.ts interpreterCache': 'a fact about the host (the real python binary), probed once per process; nothing to close',
    'models/reward/python-sandbox.ts netnsCache': 'a fact about the host (whether unshare works), probed once per process; nothing to close',
    'connectors/sinks/shard-manifest.ts shared': 'keyed weakly by the storage object, so it lives and dies with it; a Manifest holds no handle to close',
  };
  const DIRS = ['core', 'runtime', 'connectors', 'processors', 'models', 'cli', 'evaluation'];
  const TOP_LEVEL = /^(?:export )?(?:(?:const|var) (\w+)(?::[^=]+)? = new (?:Map|Set|WeakMap|WeakSet)\b|let (\w+))/gm;

  /** Top-level mutable holders: `name` with the file, and whether the file ever writes to it. */
  function holders(): Array<{ id: string; constant: boolean }> {
    return DIRS.flatMap((d) => sources(d, false))
      .filter((f) => !f.endsWith('.testkit.ts'))
      .flatMap((f) => {
        const src = fs.readFileSync(path.join(ROOT, f), 'utf8');
        return [...src.matchAll(TOP_LEVEL)].map((m) => {
          const name = (m[1] ?? m[2])!;
          // An UPPER_CASE Map/Set the file never writes to is a constant lookup table.
          const constant = m[1] !== undefined && /^[A-Z][A-Z0-9_]*$/.test(name) && !new RegExp(`\\b${name}\\.(?:set|add|delete|clear)\\(`).test(src);
          return { id: `${f} ${name}`, constant };
        });
      });
  }

  it('no module-level mutable registry remains outside the allow-list', () => {
    expect(
      holders()
        .filter((h) => !h.constant && !(h.id in ALLOWED))
        .map((h) => h.id),
    ).toEqual([]);
  });

  it('finds such holders at all, and every allow-list entry still exists', () => {
    const found = holders();
    expect(found.some((h) => h.constant)).toBe(true); // e.g. provider-errors.ts NETWORK_CODES
    expect(Object.keys(ALLOWED).filter((id) => !found.some((h) => h.id === id))).toEqual([]);
  });
});

// Config problems as a person reads them: every one at once, each at its full path
// (`nodes.detect.boxThreshold`), and a misspelt key answered with the key it probably meant.
import type { z } from 'zod';
import type { AnyProcessorSpec } from '../core/processor';
import type { Topology } from '../topology/topology';

export interface ConfigIssue {
  /** Dotted path from the config root, e.g. `nodes.detect.boxThreshold`. */
  path: string;
  message: string;
}

/** Edit distance counting a swap of two neighbours as one edit ("kafak" is 1 from "kafka"). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word` (case aside), if it is near enough to be a typo of it. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  // A third of the longer word: catches typos without proposing unrelated short keys.
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

export function unknownKeyIssue(path: PropertyKey[], key: string, known: string[], what = 'unknown key'): ConfigIssue {
  const guess = closest(key, known);
  const hint = guess ? `; did you mean \`${guess}\`?` : known.length ? ` (known: ${known.join(', ')})` : '';
  return { path: joinPath([...path, key]), message: `${what}${hint}` };
}

export function joinPath(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '<root>';
}

// Zod 4 keeps a schema's structure in `_zod.def`; only the fields read below are typed.
type Def = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  discriminator?: string;
  left?: z.ZodType;
  right?: z.ZodType;
  getter?: () => z.ZodType;
  values?: unknown[];
};
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object/record/array schemas `s` stands for once wrappers are peeled (every union branch that fits `input`). */
function structural(s: z.ZodType, input: unknown): z.ZodType[] {
  const d = defOf(s);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return structural(d.innerType!, input);
    case 'pipe': // z.preprocess is a transform piped into the real schema
      return defOf(d.in!).type === 'transform' ? structural(d.out!, input) : structural(d.in!, input);
    case 'lazy':
      return structural(d.getter!(), input);
    case 'intersection':
      return [...structural(d.left!, input), ...structural(d.right!, input)];
    case 'union': {
      const all = d.options!.flatMap((o) => structural(o, input));
      const tag = d.discriminator && isRecord(input) ? input[d.discriminator] : undefined;
      // A discriminated union with a known tag: only that branch's keys are known.
      const tagOf = (o: z.ZodType) => defOf(o).shape?.[d.discriminator!];
      const match = all.filter((o) => tagOf(o) && defOf(tagOf(o)!).values?.includes(tag));
      return match.length ? match : all;
    }
    default:
      return [s];
  }
}

/** Schemas at `path` below `s`, following the input alongside (for union tags). */
function schemasAt(s: z.ZodType, input: unknown, path: readonly PropertyKey[]): Array<{ s: z.ZodType; input: unknown }> {
  let here = [{ s, input }];
  for (const key of path) {
    here = here.flatMap(({ s: cur, input: inp }) => {
      const next = isRecord(inp) || Array.isArray(inp) ? (inp as Record<PropertyKey, unknown>)[key] : undefined;
      return structural(cur, inp).flatMap((x) => {
        const d = defOf(x);
        const child = d.type === 'object' ? d.shape![String(key)] : d.type === 'record' ? d.valueType : d.type === 'array' ? d.element : undefined;
        return child ? [{ s: child, input: next }] : [];
      });
    });
  }
  return here;
}

/** Keys an object at `path` may have; fields kept only to refuse an old name (`z.never()`) are left out. */
export function knownKeysAt(schema: z.ZodType, input: unknown, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  for (const at of schemasAt(schema, input, path)) {
    for (const o of structural(at.s, at.input)) {
      const shape = defOf(o).shape;
      if (defOf(o).type !== 'object' || !shape) continue;
      for (const [k, v] of Object.entries(shape)) if (structural(v, undefined).every((x) => defOf(x).type !== 'never')) keys.add(k);
    }
  }
  return [...keys];
}

/**
 * A ZodError as ConfigIssues under `prefix`: each unrecognized key on its own with a
 * suggestion, and a required field that is only missing because its misspelling was given
 * is not reported twice.
 */
export function zodIssues(error: z.ZodError, schema: z.ZodType, input: unknown, prefix: PropertyKey[] = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const suggested = new Set<string>();
  for (const i of error.issues) {
    if (i.code !== 'unrecognized_keys') continue;
    const known = knownKeysAt(schema, input, i.path);
    for (const key of i.keys) {
      out.push(unknownKeyIssue([...prefix, ...i.path], key, known));
      const guess = closest(key, known);
      if (guess) suggested.add(joinPath([...prefix, ...i.path, guess]));
    }
  }
  for (const i of error.issues) {
    if (i.code === 'unrecognized_keys') continue;
    const path = joinPath([...prefix, ...i.path]);
    if (i.code === 'invalid_type' && suggested.has(path)) continue;
    out.push({ path, message: i.message });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Checks `nodes` against the topology: every name must be one of its nodes, and every
 * node config must pass its processor's schema (as the topology would later, but now with
 * the other problems of the file). Anything that is not an object is the app schema's to report.
 */
export function nodeConfigIssues(nodes: unknown, topology: Topology, lookup: (kind: string) => AnyProcessorSpec | undefined): ConfigIssue[] {
  if (!isRecord(nodes)) return [];
  const names = topology.nodes.map((n) => n.name);
  const issues: ConfigIssue[] = [];
  for (const name of Object.keys(nodes)) {
    if (!names.includes(name)) issues.push(unknownKeyIssue(['nodes'], name, names, `topology '${topology.name}' has no such node`));
  }
  for (const node of topology.nodes) {
    const spec = lookup(node.processor);
    if (!spec || !(node.name in nodes)) continue;
    const parsed = spec.config.safeParse(nodes[node.name]);
    if (!parsed.success) issues.push(...zodIssues(parsed.error, spec.config, nodes[node.name], ['nodes', node.name]));
  }
  return issues;
}

export function formatConfigIssues(issues: ConfigIssue[]): string {
  return issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n');
}

import { z } from 'zod';
import { closest, editDistance, formatConfigIssues, knownKeysAt, nodeConfigIssues, zodIssues } from './config-issues';
import { lookupProcessor } from '../processors';
import { valorTopology } from '../topology/valor-topology';

describe('editDistance and closest', () => {
  it('counts edits, a swap of neighbours as one', () => {
    expect(editDistance('kafka', 'kafka')).toBe(0);
    expect(editDistance('detet', 'detect')).toBe(1);
    expect(editDistance('kafak', 'kafka')).toBe(1);
    expect(editDistance('abc', '')).toBe(3);
    expect(editDistance('sitting', 'kitten')).toBe(3);
  });

  it('suggests only a near key, case aside', () => {
    expect(closest('boxTreshold', ['textThreshold', 'boxThreshold', 'batchSize'])).toBe('boxThreshold');
    expect(closest('RUNTIME', ['runtime', 'topology'])).toBe('runtime');
    expect(closest('zzz', ['runtime', 'topology'])).toBeUndefined();
    expect(closest('url', ['dir'])).toBeUndefined(); // short keys three edits apart are unrelated
  });
});

const schema = z
  .object({
    a: z.object({ count: z.number(), label: z.string().default('x') }).strict(),
    list: z.array(z.object({ port: z.number() }).strict()).default([]),
    provider: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('http'), baseURL: z.string() }).strict(),
        z.object({ kind: z.literal('file'), path: z.string() }).strict(),
      ])
      .optional(),
    judge: z.never({ error: 'judge was renamed to provider' }).optional(),
  })
  .strict()
  .optional();

describe('knownKeysAt', () => {
  it('follows wrappers, arrays and the branch of a discriminated union the input names', () => {
    expect(knownKeysAt(schema, {}, []).sort()).toEqual(['a', 'list', 'provider']); // judge only refuses an old name
    expect(knownKeysAt(schema, {}, ['a']).sort()).toEqual(['count', 'label']);
    expect(knownKeysAt(schema, { list: [{}] }, ['list', 0])).toEqual(['port']);
    expect(knownKeysAt(schema, { provider: { kind: 'file' } }, ['provider']).sort()).toEqual(['kind', 'path']);
    expect(knownKeysAt(schema, { provider: {} }, ['provider']).sort()).toEqual(['baseURL', 'kind', 'path']);
  });
});

describe('zodIssues', () => {
  it('reports every problem with its full path, and a suggestion for each misspelt key', () => {
    const input = { a: { cont: 1, label: 3 }, list: [{ prot: 1 }], provider: { kind: 'http', baseUrl: 'x' }, extra: true };
    const r = schema.safeParse(input);
    expect(r.success).toBe(false);
    const issues = zodIssues(r.error!, schema, input, ['nodes', 'n']);
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'nodes.n.a.cont', message: 'unknown key; did you mean `count`?' },
        { path: 'nodes.n.a.label', message: expect.stringMatching(/expected string/) },
        { path: 'nodes.n.list.0.prot', message: 'unknown key; did you mean `port`?' },
        { path: 'nodes.n.provider.baseUrl', message: 'unknown key; did you mean `baseURL`?' },
        { path: 'nodes.n.extra', message: 'unknown key (known: a, list, provider)' },
      ]),
    );
    // `count` and `baseURL` are missing only because they were misspelt: reported once.
    expect(issues.map((i) => i.path)).not.toContain('nodes.n.a.count');
    expect(issues.map((i) => i.path)).not.toContain('nodes.n.provider.baseURL');
    expect(issues).toHaveLength(5);
    expect(formatConfigIssues(issues)).toMatch(/^ {2}- nodes\.n\.a\.cont: unknown key; did you mean `count`\?$/m);
  });
});

describe('nodeConfigIssues', () => {
  const topology = valorTopology();

  it('refuses a node the topology does not have, suggesting the near one', () => {
    expect(nodeConfigIssues({ detet: {} }, topology, lookupProcessor)).toEqual([
      { path: 'nodes.detet', message: "topology 'valor' has no such node; did you mean `detect`?" },
    ]);
  });

  it('checks each node config against its processor, with node paths and suggestions', () => {
    const issues = nodeConfigIssues({ detect: { boxTreshold: 0.3, batchSize: 0 }, 'reward-group': { timeoutMs: 'soon' } }, topology, lookupProcessor);
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'nodes.detect.boxTreshold', message: 'unknown key; did you mean `boxThreshold`?' },
        { path: 'nodes.detect.batchSize', message: expect.stringMatching(/>=1/) },
        { path: 'nodes.reward-group.timeoutMs', message: expect.stringMatching(/expected number/) },
      ]),
    );
    expect(issues).toHaveLength(3);
    expect(nodeConfigIssues({ detect: {}, verify: { concurrency: 4 } }, topology, lookupProcessor)).toEqual([]);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allowImageRoot, applyImagesPolicy, imageStagePaths } from './config-images';
import { loadConfig } from './config';
import { lookupProcessor } from '../processors';
import { validateTopology } from '../topology/validate';
import { valorTopology } from '../topology/valor-topology';

describe('imageStagePaths', () => {
  it('finds every stage that loads images: detect, verify and the ODVG sink', () => {
    expect(imageStagePaths('valor')).toEqual([
      ['nodes', 'detect', 'images'],
      ['nodes', 'verify', 'images'],
      ['sinks', 'odvg', 'images'],
    ]);
    expect(imageStagePaths('passthrough')).toEqual([['sinks', 'odvg', 'images']]);
  });

  it('covers the answer node only when it is configured, so a top-level policy never switches it on', () => {
    expect(imageStagePaths('valor', { answer: {} })).toContainEqual(['nodes', 'answer', 'images']);
    const out = applyImagesPolicy({ images: { maxBytes: 5 }, nodes: {} }) as { nodes: Record<string, unknown> };
    expect(out.nodes.answer).toBeUndefined();
    const on = applyImagesPolicy({ images: { maxBytes: 5 }, nodes: { answer: {} } }) as { nodes: Record<string, { images?: unknown }> };
    expect(on.nodes.answer!.images).toEqual({ maxBytes: 5 });
  });
});

describe('applyImagesPolicy', () => {
  it('puts the top-level policy under each stage; a stage overrides it field by field', () => {
    const raw = {
      images: { allowedRoots: ['/data'], maxBytes: 1000 },
      nodes: { verify: { concurrency: 2, images: { maxBytes: 50 } } },
      sinks: { odvg: { dir: 'x' } },
    };
    const before = JSON.stringify(raw);
    const out = applyImagesPolicy(raw) as typeof raw & { nodes: Record<string, { images: unknown }> };
    expect(out.nodes.detect!.images).toEqual({ allowedRoots: ['/data'], maxBytes: 1000 });
    expect(out.nodes.verify).toEqual({ concurrency: 2, images: { allowedRoots: ['/data'], maxBytes: 50 } });
    expect(out.sinks.odvg).toEqual({ dir: 'x', images: { allowedRoots: ['/data'], maxBytes: 1000 } });
    expect(JSON.stringify(raw)).toBe(before); // pure: the input is not touched
  });

  it('leaves the config alone without a policy, with an invalid one, or with a stage of the wrong type', () => {
    expect(applyImagesPolicy({ nodes: {} })).toEqual({ nodes: {} });
    const bad = { images: { maxBytes: -1 }, nodes: {} };
    expect(applyImagesPolicy(bad)).toBe(bad);
    const odd = applyImagesPolicy({ images: { maxBytes: 5 }, nodes: { detect: 'nope' } }) as { nodes: unknown };
    expect(odd.nodes).toEqual({ detect: 'nope', verify: { images: { maxBytes: 5 } } });
  });
});

describe('one images policy through loadConfig', () => {
  it('reaches detect, verify and the ODVG sink, with a per-node override and defaults elsewhere', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-img-'));
    const file = path.join(dir, 'c.json');
    fs.writeFileSync(file, JSON.stringify({ images: { allowedRoots: [dir], allowPrivateNetworks: true }, nodes: { verify: { images: { maxBytes: 4096 } } } }));
    const config = loadConfig({ file, env: {} });
    expect(config.images).toMatchObject({ allowedRoots: [dir], allowPrivateNetworks: true, maxBytes: 20 * 1024 * 1024 });
    expect(config.sinks.odvg.images).toMatchObject({ allowedRoots: [dir], allowPrivateNetworks: true, maxBytes: 20 * 1024 * 1024 });
    // The nodes' configs as their processors parse them.
    const parsed = validateTopology(valorTopology({ nodeConfig: config.nodes }), lookupProcessor) as Map<string, { images: object }>;
    expect(parsed.get('detect')!.images).toMatchObject({ allowedRoots: [dir], allowPrivateNetworks: true, maxBytes: 20 * 1024 * 1024, timeoutMs: 10_000 });
    expect(parsed.get('verify')!.images).toMatchObject({ allowedRoots: [dir], allowPrivateNetworks: true, maxBytes: 4096 });
  });

  it('reports an invalid policy once, at images.*', () => {
    expect(() => loadConfig({ env: {}, overrides: [[['images'], { maxBytes: -1 }]] })).toThrow(/^invalid configuration:\n {2}- images\.maxBytes: [^\n]*$/);
  });
});

describe('allowImageRoot', () => {
  it('adds a corpus directory to the policy and every stage, even one with its own roots', () => {
    const config = loadConfig({
      env: {},
      overrides: [
        [['images'], { allowedRoots: ['/data'] }],
        [['nodes'], { verify: { images: { allowedRoots: ['/only'] } } }],
      ],
    });
    const out = allowImageRoot(config, 'corpus/dir');
    const abs = path.resolve('corpus/dir');
    expect(out.images.allowedRoots).toEqual(['/data', abs]);
    expect(out.sinks.odvg.images.allowedRoots).toEqual(['/data', abs]);
    expect(out.nodes.detect).toEqual({ images: { allowedRoots: ['/data', abs] } });
    expect(out.nodes.verify).toEqual({ images: { allowedRoots: ['/only', abs] } });
    expect(config.images.allowedRoots).toEqual(['/data']); // the original is unchanged
    expect(allowImageRoot(out, abs).images.allowedRoots).toEqual(['/data', abs]); // once only
  });

  it('gives a stage with no roots anywhere just the corpus directory', () => {
    const out = allowImageRoot(loadConfig({ env: {} }), '/corpus');
    expect(out.nodes.detect).toEqual({ images: { allowedRoots: ['/corpus'] } });
    expect(out.nodes.verify).toEqual({ images: { allowedRoots: ['/corpus'] } });
    expect(out.sinks.odvg.images.allowedRoots).toEqual(['/corpus']);
  });
});

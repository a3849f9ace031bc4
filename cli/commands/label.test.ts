// `valor-stream label` as a user runs it: a folder of images and a class list in, an ODVG
// training set out; a re-run asks the provider nothing and leaves the dataset byte-identical.
// The detector is the simulated one and the VLM a fake OpenAI server on 127.0.0.1 (real SDK).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { captureConsole } from '../../test/harness/capture-console';
import { generateSyntheticCorpus } from '../../evaluation/synthetic-corpus';
import { readGroundTruth } from '../../evaluation/label-quality';
import { FakeOpenAIServer } from '../../test/fakes/fake-openai-server';
import { VerifierOracle } from '../../test/fakes/verifier-oracle';
import { imageFiles, parseClasses, registerLabelCommand, writeImageCorpus } from './label';

const KEY_ENV = 'VALOR_LABEL_TEST_KEY';

/** Every file under `dir` (relative path -> bytes), sorted. */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function label(argv: string[]): Promise<string> {
  return captureConsole(() => registerLabelCommand(new Command().exitOverride()).parent!.parseAsync(['node', 'valor-stream', 'label', ...argv]));
}

describe('valor-stream label', () => {
  let dir: string;
  let server: FakeOpenAIServer;
  let config: string;
  let classes: string[];
  let images: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'label-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'synthetic'), count: 12, seed: 11 });
    images = path.join(dir, 'synthetic', 'images');
    classes = [...new Set([...readGroundTruth(corpus.groundTruthFile).values()].flatMap((t) => t.objects.map((o) => o.category)))].sort();
    const oracle = await VerifierOracle.fromGroundTruth(corpus.groundTruthFile);
    server = new FakeOpenAIServer({ oracle: oracle.answer });
    const baseURL = await server.start();
    process.env[KEY_ENV] = 'test-key';
    config = path.join(dir, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        nodes: {
          detect: { kind: 'simulated', groundTruth: corpus.groundTruthFile },
          verify: { provider: { kind: 'openai-responses', baseURL, apiKeyEnv: KEY_ENV } },
        },
      }),
    );
  });

  afterAll(async () => {
    await server.close();
    delete process.env[KEY_ENV];
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('labels a folder, then a re-run makes no provider calls and leaves the dataset byte-identical', async () => {
    expect(fs.existsSync(images)).toBe(true);
    const out = path.join(dir, 'out');
    const first = await label([images, '--classes', classes.join(', '), '--out', out, '-c', config]);
    const calls = server.requests.length;
    expect(calls).toBeGreaterThan(0);
    const odvg = path.join(out, 'odvg');
    const index = JSON.parse(fs.readFileSync(path.join(odvg, 'dataset.json'), 'utf8'));
    const records = fs
      .readFileSync(index.train[0].anno, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // One record per image, and the verifier kept real boxes on them.
    expect(records).toHaveLength(12);
    expect(records.reduce((n, r) => n + r.detection.instances.length, 0)).toBeGreaterThanOrEqual(12);
    expect(first).toMatch(/boxes accepted:\s+\d+/);
    const dataset = snapshot(odvg);
    for (const k of [...dataset.keys()]) if (k.startsWith('shards/')) dataset.delete(k);

    const second = await label([images, '--classes', classes.join(', '), '--out', out, '-c', config]);
    expect(server.requests.length).toBe(calls);
    expect(second).toMatch(/all \d+ came from the verdict cache/);
    expect(second).toMatch(/dataset:\s+unchanged/);
    const again = snapshot(odvg);
    for (const [k, bytes] of dataset) expect(again.get(k)?.equals(bytes)).toBe(true);
  });

  it('stops at once listing every missing model file and key, each with its field', async () => {
    const bare = path.join(dir, 'bare.json');
    fs.writeFileSync(bare, JSON.stringify({ nodes: { detect: { modelPath: path.join(dir, 'none.onnx'), tokenizerPath: path.join(dir, 'none.json') } } }));
    const env = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const err = await label([images, '--classes', 'red circle', '--out', path.join(dir, 'bare-out'), '-c', bare]).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const msg = (err as Error).message;
      expect(msg).toMatch(/nodes\.detect\.modelPath/);
      expect(msg).toMatch(/nodes\.detect\.tokenizerPath/);
      expect(msg).toMatch(/nodes\.verify\.provider\.apiKeyEnv.*OPENAI_API_KEY/);
      // The reward judges do not run on an image corpus: their Vertex project is not demanded.
      expect(msg).not.toMatch(/GOOGLE_CLOUD_PROJECT/);
      expect(fs.existsSync(path.join(dir, 'bare-out', 'odvg'))).toBe(false);
    } finally {
      if (env !== undefined) process.env.OPENAI_API_KEY = env;
    }
  });

  it('turns a folder into one query per image with stable ids', async () => {
    const files = await imageFiles(images);
    expect(files).toHaveLength(12);
    expect(await imageFiles(path.join(images, '*.png'))).toEqual(files);
    const a = path.join(dir, 'a.jsonl');
    const b = path.join(dir, 'b.jsonl');
    writeImageCorpus(files, ['mug', 'laptop'], a);
    writeImageCorpus(files, ['mug', 'laptop'], b);
    expect(fs.readFileSync(a, 'utf8')).toBe(fs.readFileSync(b, 'utf8'));
    expect(JSON.parse(fs.readFileSync(a, 'utf8').split('\n')[0]!)).toMatchObject({ phrases: ['mug', 'laptop'] });
    expect(parseClasses(' mug,  laptop ,,mug, coffee  cup')).toEqual(['mug', 'laptop', 'coffee cup']);
  });
});

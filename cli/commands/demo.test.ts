// `make demo` as a new user meets it: offline, no keys, a real ODVG dataset on disk that
// Open-GroundingDino's loader accepts, with its precision against the synthetic ground truth.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { captureConsole } from '../../test/harness/capture-console';
import { registerDemoCommand } from './demo';

const ROOT = path.join(__dirname, '..', '..');

function demo(argv: string[]): Promise<string> {
  return captureConsole(() => registerDemoCommand(new Command().exitOverride()).parent!.parseAsync(['node', 'valor-stream', 'demo', ...argv]));
}

describe('valor-stream demo', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('mines a dataset the loader accepts, with its precision printed, and a re-run changes nothing', async () => {
    const out = path.join(dir, 'out');
    const first = await demo(['--out', out, '--count', '45']);
    const check = JSON.parse(
      execFileSync('python3', [path.join(ROOT, 'test', 'fixtures', 'odvg_loader_check.py'), path.join(out, 'odvg', 'dataset.json')], { encoding: 'utf8' }),
    ) as { ok: boolean; records: number; images: number; instances?: number };
    expect(check).toMatchObject({ ok: true, records: 45, images: 45 });
    const index = JSON.parse(fs.readFileSync(path.join(out, 'odvg', 'dataset.json'), 'utf8'));
    const boxes = fs
      .readFileSync(index.train[0].anno, 'utf8')
      .trim()
      .split('\n')
      .reduce((n, l) => n + JSON.parse(l).detection.instances.length, 0);
    expect(boxes).toBeGreaterThanOrEqual(80);
    const m = /the ODVG dataset vs ground truth: precision ([\d.]+) recall ([\d.]+)/.exec(first);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(0.95);
    expect(Number(m![2])).toBeGreaterThan(0.9);
    expect(first).toMatch(/hard negatives:\s+\d+ \(rejected at stage 1 coarse: \d+, stage 2 crop: \d+, stage 3 final: \d+\)/);
    expect(first).toMatch(/provider calls:\s+openai-responses\/gpt-5-mini: [1-9]\d* calls, \$0\.\d{4}/);
    expect(fs.readdirSync(path.join(out, 'preview')).filter((f) => f.endsWith('.png')).length).toBeGreaterThan(0);
    // The reasoner: every question answered by its program, accuracy per question type.
    expect(first).toMatch(/== the reasoner: 45 programs/);
    for (const t of ['left|right|above|below', 'count', 'overall']) expect(first).toMatch(new RegExp(`(${t})\\s+n=\\d+\\s+accuracy (0\\.9\\d\\d|1\\.000)`));

    const second = await demo(['--out', out, '--count', '45']);
    expect(second).toMatch(/verdicts:\s+all \d+ came from the verdict cache/);
    expect(second).toMatch(/dataset:\s+unchanged/);
    expect(second).toMatch(/gpt-5-mini: 0 calls/);
  });
});

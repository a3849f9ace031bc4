// `valor-stream review` as a user starts it: the dataset from --dataset (or the config's
// sinks.odvg.dir), the URL printed with its token, the page served, and stopped on request.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { makeReviewDataset } from '../../connectors/review/review.testkit';
import { captureConsole } from '../../test/harness/capture-console';
import { registerReviewCommand, reviewDataset } from './review';

describe('valor-stream review', () => {
  let work: string;
  let dataset: string;
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'review-cli-'));
    ({ datasetDir: dataset } = await makeReviewDataset(work, { images: 4 }));
  });
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  const review = async (argv: string[]) => {
    const stops: Array<() => Promise<void>> = [];
    const out = await captureConsole(() =>
      registerReviewCommand(new Command().exitOverride(), { stopOn: (s) => stops.push(s) }).parent!.parseAsync(['node', 'valor-stream', 'review', ...argv]),
    );
    return { out, stop: stops[0] };
  };

  it('serves the dataset and prints the URL with its token', async () => {
    const { out, stop } = await review(['--dataset', dataset, '--port', '0', '--token', 'cli-token-123', '--reviewer', 'bo']);
    try {
      const url = /review page: (\S+)/.exec(out)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=cli-token-123$/);
      expect(out).toContain(path.join(dataset, 'human-verdicts.jsonl'));
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<meta name="valor-csrf"');
      const summary = await fetch(url.replace('/?', '/api/summary?'));
      expect(((await summary.json()) as { reviewer: string; records: number }).reviewer).toBe('bo');
      expect((await fetch(url.replace(/\?.*/, 'api/summary'))).status).toBe(401);
    } finally {
      await stop?.();
    }
  });

  it('takes the dataset from sinks.odvg.dir, and says what to pass when there is none', () => {
    const config = path.join(work, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ sinks: { odvg: { dir: dataset } } }));
    expect(reviewDataset({ config })).toBe(dataset);
    fs.writeFileSync(config, JSON.stringify({ sinks: { odvg: { dir: path.join(work, 'nothing') } } }));
    const cwd = process.cwd();
    process.chdir(work); // no out/demo/odvg here
    try {
      expect(() => reviewDataset({ config })).toThrow(/pass --dataset DIR/);
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses a non-loopback address without a token, and a bad port', async () => {
    const saved = process.env.VALOR_REVIEW_TOKEN;
    delete process.env.VALOR_REVIEW_TOKEN;
    try {
      await expect(review(['--dataset', dataset, '--host', '0.0.0.0', '--port', '0'])).rejects.toThrow(/--token/);
      await expect(review(['--dataset', dataset, '--port', 'eighty'])).rejects.toThrow(/--port/);
    } finally {
      if (saved !== undefined) process.env.VALOR_REVIEW_TOKEN = saved;
    }
  });
});

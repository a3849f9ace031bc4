import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { imageIntakeConfig } from '../../models/images/image-intake';
import type { LabelRegistry } from './label-registry';
import { OdvgFormat } from './odvg-format';
import { LocalFileStorage } from './shard-storage';

const labels: LabelRegistry = { idsFor: async (c) => new Map(c.map((x, i) => [x, i])), labels: () => [], close: async () => undefined };

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, logger: pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) };
}

describe('stale image temps when an ODVG sink starts', () => {
  let root: string;
  beforeEach(() => (root = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-image-temps-'))));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const put = (rel: string, ageMs: number) => {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, 'torn png');
    const t = (Date.now() - ageMs) / 1000;
    fs.utimesSync(abs, t, t);
  };
  const files = () =>
    fs
      .readdirSync(path.join(root, 'images'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  const format = (logger: pino.Logger, staleTemps?: { graceMs?: number; maxAgeMs?: number }) =>
    new OdvgFormat({
      storage: new LocalFileStorage(root),
      rootPath: root,
      shardDir: 'shards',
      labels,
      images: imageIntakeConfig.parse({ allowedRoots: [root] }),
      mode: 'od',
      keepNegativeOnly: true,
      logger,
      staleTemps,
    });

  it("removes a killed writer's temps next to the finished images, keeps live writers' temps, and logs how many", async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const sha = (c: string) => c.repeat(64);
    put(`images/aa/${sha('a')}.png`, 0);
    put(`images/aa/${sha('a')}.png.${dead}-0.tmp`, 5 * 60_000);
    put(`images/bb/${sha('b')}.jpg.${dead}-7.tmp`, 5 * 60_000);
    put(`images/cc/${sha('c')}.png.${process.ppid}-1.tmp`, 5 * 60_000); // a live sink's write in progress
    const { logger, lines } = capture();
    const f = format(logger);
    expect(await f.staleImageTemps).toBe(2);
    await f.close();
    expect(files()).toEqual([`${sha('a')}.png`, `${sha('c')}.png.${process.ppid}-1.tmp`]);
    expect(lines).toEqual([expect.objectContaining({ msg: expect.stringMatching(/stale image temps/), removed: 2, pending: 0 })]);
  });

  it('with no images directory yet, removes nothing and says so', async () => {
    const { logger, lines } = capture();
    const f = format(logger);
    expect(await f.staleImageTemps).toBe(0);
    await f.close();
    expect(lines).toEqual([expect.objectContaining({ removed: 0, pending: 0 })]);
  });

  it('a temp of a dead writer still within the grace is removed by one more sweep after the grace', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    put(`images/dd/${'d'.repeat(64)}.png.${dead}-0.tmp`, 0); // the crash just happened
    const { logger, lines } = capture();
    const f = format(logger, { graceMs: 100 });
    expect(await f.staleImageTemps).toBe(0);
    expect(files()).toHaveLength(1);
    // The second sweep runs graceMs + 1 s after the first.
    for (let i = 0; i < 50 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    await f.close();
    expect(files()).toEqual([]);
    expect(lines.map((l) => [l.removed, l.pending])).toEqual([
      [0, 1],
      [1, 0],
    ]);
  });

  it('close() cancels the second sweep', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    put(`images/ee/${'e'.repeat(64)}.png.${dead}-0.tmp`, 0);
    const { logger, lines } = capture();
    const f = format(logger, { graceMs: 100 });
    await f.staleImageTemps;
    await f.close();
    await new Promise((r) => setTimeout(r, 1_300));
    expect(lines).toHaveLength(1);
    expect(files()).toHaveLength(1);
  });
});

// A real crash test: a child process writes records 0..N-1, resuming from recovery each
// time, and is SIGKILLed once per run at a point the test chooses. The child reports over
// stdout when it reaches that point; the kill follows the report, never a timer, so the
// number of kills is exactly the plan's on any machine. The writer's sources are transpiled
// for plain node with the TypeScript compiler API (no build step, so never a stale dist/).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { CLOSED_DATA, type ShardInfo } from './shard-files';
import type { ShardManifest } from './shard-manifest';
import { verifyShard } from './shard-recovery';
import { LocalFileStorage } from './shard-storage';
import { PartitionShardWriter } from './shard-writer';

const REPO = path.resolve(__dirname, '../..');
const N = 3000;
// A child that neither reaches its kill point nor exits within this long is stuck, not slow.
const CHILD_BOUND_MS = 60_000;

function files(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

function readLines(root: string, dir: string, shards: ShardInfo[]): string[] {
  return shards.flatMap((s) =>
    fs
      .readFileSync(path.join(root, dir, s.file), 'utf8')
      .split('\n')
      .filter(Boolean),
  );
}

function transpileTree(entries: string[], outDir: string): void {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const imp of ts.preProcessFile(src, true, true).importedFiles) {
      if (!imp.fileName.startsWith('.')) continue; // packages come from NODE_PATH
      const base = path.resolve(path.dirname(file), imp.fileName);
      const found = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
      if (found) todo.push(found);
    }
    const js = ts.transpileModule(src, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const out = path.join(outDir, path.relative(REPO, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, js);
  }
}

// The kill point comes as the last argument:
//   seam:<seam>:<k>  stop just before the k-th storage call of that seam, report it, and wait
//                    to be killed: the crash lands exactly there.
//   run:<d>:<m>      report after d records (d = 0: before recovery), keep writing, and stop
//                    after m more: the kill lands wherever the child has got to by then, and
//                    a run never gets further than d + m records whatever the machine's speed.
// A run that runs out of records before its point reports 'end' and waits, so it is still
// killed exactly once.
const CHILD = `
const [libDir, root, n, kill] = process.argv.slice(2);
const { LocalFileStorage } = require(libDir + '/connectors/sinks/shard-storage.js');
const { PartitionShardWriter } = require(libDir + '/connectors/sinks/shard-writer.js');
const report = (line) => process.stdout.write(line + '\\n');
const wait = () => { setInterval(() => {}, 1 << 30); return new Promise(() => {}); };
const SEAMS = {
  temp: (op) => op === 'createTemp',
  meta: (op, p) => op === 'writeAtomic' && p.endsWith('.meta.json'),
  publish: (op) => op === 'publish',
  manifest: (op, p) => op === 'writeAtomic' && p.endsWith('manifest.json'),
  delete: (op) => op === 'delete',
};
const OPS = ['list', 'createTemp', 'publish', 'writeAtomic', 'read', 'size', 'exists', 'delete', 'removeStaleTemps', 'removeStaleTempsUnder'];
(async () => {
  const [mode, a, b] = kill ? kill.split(':') : [];
  const local = new LocalFileStorage(root);
  let storage = local;
  if (mode === 'seam') {
    let seen = 0;
    storage = {};
    for (const op of OPS) {
      storage[op] = async (...args) => {
        if (SEAMS[a](op, String(args[0])) && ++seen === Number(b)) { report('at seam:' + a + ':' + b); await wait(); }
        return local[op](...args);
      };
    }
  }
  let done = 0;
  const progress = async () => {
    if (mode !== 'run') return;
    if (done === Number(a)) report('at run:' + a);
    if (done === Number(a) + Number(b)) await wait();
  };
  await progress();
  const w = await PartitionShardWriter.open({
    storage, dir: 'shards', topic: 'valor.pseudo-labels', partition: 3, maxRecords: 40, maxBytes: 2300, maxSpanMs: 3000,
  });
  for (let i = w.recovery.resumeOffset === null ? 0 : Number(w.recovery.resumeOffset); i < Number(n); i++) {
    // Every 11th record is an upstream duplicate of the one before it.
    const id = i % 11 === 7 ? i - 1 : i;
    // Record times jump every 150 records, so some shards close by time.
    const time = 1700000000000 + i * 60 + Math.floor(i / 150) * 3000;
    if (w.signatures.has('id-' + id)) await w.skip(String(i), time);
    else {
      const line = JSON.stringify({ id, offset: i, text: 'x'.repeat((i * 7) % 61) });
      await w.append(String(i), line, time, { signature: 'id-' + id, versions: ['model-' + (i % 3)] });
    }
    done++;
    await progress();
  }
  await w.close();
  if (kill) { report('at end'); await wait(); }
  report('done');
})().catch((err) => { console.error(err); process.exit(1); });
`;

describe('PartitionShardWriter under SIGKILL', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vs-shard-crash-'));
    transpileTree([path.join(__dirname, 'shard-writer.ts'), path.join(__dirname, 'shard-storage.ts')], path.join(tmp, 'lib'));
    fs.writeFileSync(path.join(tmp, 'child.js'), CHILD);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /**
   * Runs the child. With a kill point, SIGKILLs it as soon as it reports reaching the point
   * and resolves with the report; without one, resolves when it has written everything.
   */
  function runChild(root: string, kill?: string): Promise<{ at: string | null }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(tmp, 'child.js'), path.join(tmp, 'lib'), root, String(N), kill ?? ''], {
        env: { ...process.env, NODE_PATH: path.join(REPO, 'node_modules') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let at: string | null = null;
      const bound = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`child (kill point ${kill ?? 'none'}) neither reported nor exited within ${CHILD_BOUND_MS} ms; stdout: ${stdout}; stderr: ${stderr}`));
      }, CHILD_BOUND_MS);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /^at (.+)\n/m.exec(stdout); // whole lines only: a chunk may end mid-line
        if (kill && m && at === null) {
          at = m[1]!;
          child.kill('SIGKILL');
        }
      });
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(bound);
        if (kill && signal === 'SIGKILL' && at !== null) resolve({ at });
        else if (!kill && code === 0 && stdout.includes('done')) resolve({ at: null });
        else reject(new Error(`child (kill point ${kill ?? 'none'}) exited with ${code ?? signal}; stdout: ${stdout}; stderr: ${stderr}`));
      });
    });
  }

  it(
    'loses and duplicates nothing across 10 kills at chosen points, with the same bytes as an uninterrupted run',
    async () => {
      const seed = Date.now() % 100000;
      let state = seed;
      // A small seeded PRNG, so a failure can be replayed from the seed in the message.
      const rand = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
      // Every seam of a shard's close and of recovery once, a kill during recovery, then points
      // drawn from the seed. No run gets more than 250 records further, so all ten fall before N.
      const plan = ['seam:temp:2', 'run:0:100', 'seam:meta:2', 'seam:publish:3', 'seam:delete:2', 'seam:manifest:3'];
      while (plan.length < 10) {
        const seams = ['temp', 'meta', 'publish', 'manifest'];
        plan.push(rand() < 0.5 ? `run:${1 + Math.floor(rand() * 149)}:100` : `seam:${seams[Math.floor(rand() * 4)]}:${1 + Math.floor(rand() * 4)}`);
      }
      const crashed = path.join(tmp, 'crashed');
      const shardDir = path.join(crashed, 'shards');
      // The end of the finished shards on disk, read without touching the files.
      const finishedEnd = (): number =>
        Math.max(
          -1,
          ...files(shardDir)
            .map((f) => CLOSED_DATA.exec(f))
            .filter((m) => m !== null)
            .map((m) => Number(m[4])),
        );
      let kills = 0;
      let lastEnd = -1;
      for (const kill of plan) {
        const { at } = await runChild(crashed, kill);
        kills++;
        // The kill came at the point the plan chose, never after the child ran out of records.
        expect({ seed, kill, at }).toEqual({ seed, kill, at: kill.startsWith('seam:') ? kill : kill.split(':').slice(0, 2).join(':') });
        const names = files(shardDir);
        const openTemps = names.filter((f) => f.endsWith('.jsonl.tmp'));
        const orphanMetas = names.filter((f) => f.endsWith('.meta.json') && !names.includes(f.slice(0, -'.meta.json'.length)));
        // Each seam leaves the files it should: what recovery is there to clean up.
        if (kill.startsWith('seam:temp:')) expect({ seed, kill, openTemps }).toEqual({ seed, kill, openTemps: [] });
        if (kill.startsWith('seam:meta:'))
          expect({ seed, kill, openTemps: openTemps.length, orphanMetas }).toEqual({ seed, kill, openTemps: 1, orphanMetas: [] });
        if (kill.startsWith('seam:publish:'))
          expect({ seed, kill, openTemps: openTemps.length, orphanMetas: orphanMetas.length }).toEqual({ seed, kill, openTemps: 1, orphanMetas: 1 });
        if (kill.startsWith('seam:manifest:') && kill !== 'seam:manifest:1') {
          const listed = (JSON.parse(fs.readFileSync(path.join(shardDir, 'manifest.json'), 'utf8')) as ShardManifest).shards.map((s) => s.file);
          const unlisted = names.filter((f) => CLOSED_DATA.test(f) && !listed.includes(f));
          expect({ seed, kill, unlisted: unlisted.length }).toEqual({ seed, kill, unlisted: 1 });
        }
        // A kill never takes back a finished shard.
        const end = finishedEnd();
        expect({ seed, kill, end: end >= lastEnd }).toEqual({ seed, kill, end: true });
        lastEnd = end;
      }
      expect(kills).toBe(plan.length);
      expect(lastEnd).toBeLessThan(N - 1);
      await runChild(crashed);

      const storage = new LocalFileStorage(crashed);
      const rec = await PartitionShardWriter.recover(storage, 'shards', 'valor.pseudo-labels', 3);
      expect(rec.resumeOffset).toBe(String(N));
      // Shards cover 0..N-1 with no gap and no overlap.
      let expectStart = 0n;
      let offsets = 0;
      for (const s of rec.shards) {
        expect({ seed, start: s.startOffset }).toEqual({ seed, start: expectStart.toString() });
        expectStart = BigInt(s.endOffset) + 1n;
        offsets += s.offsets;
        await verifyShard(storage, 'shards', s);
      }
      expect(offsets).toBe(N);
      // All three rotation rules took part: count, bytes, and record time.
      expect(rec.shards.some((s) => s.offsets === 40)).toBe(true);
      expect(rec.shards.some((s) => s.offsets < 40 && s.bytes > 2200)).toBe(true);
      expect(rec.shards.some((s) => s.offsets < 40 && s.bytes < 2000 && BigInt(s.endOffset) + 1n < BigInt(N))).toBe(true);
      // Every record exactly once, in order; duplicates skipped.
      const got = readLines(crashed, 'shards', rec.shards).map((l) => JSON.parse(l) as { id: number; offset: number });
      const want = Array.from({ length: N }, (_, i) => i).filter((i) => i % 11 !== 7);
      expect(got.map((r) => r.offset)).toEqual(want);
      expect(got.map((r) => r.id)).toEqual(want);
      expect(rec.signatures).toEqual(new Set(want.map((i) => `id-${i}`)));
      // Only finished files remain, and the manifest matches them.
      const names = files(shardDir);
      expect(names.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(names).toHaveLength(rec.shards.length * 2 + 1);
      const manifest = JSON.parse(fs.readFileSync(path.join(shardDir, 'manifest.json'), 'utf8')) as ShardManifest;
      expect(manifest.shards.map((s) => s.file)).toEqual(rec.shards.map((s) => s.file));
      expect(manifest.totals).toMatchObject({ shards: rec.shards.length, records: want.length, offsets: N, versions: ['model-0', 'model-1', 'model-2'] });

      // Crashes do not move shard boundaries: an uninterrupted run writes the same bytes.
      const clean = path.join(tmp, 'clean');
      await runChild(clean);
      const cleanNames = files(path.join(clean, 'shards'));
      expect(cleanNames).toEqual(names);
      for (const f of names) {
        expect({ f, same: fs.readFileSync(path.join(clean, 'shards', f)).equals(fs.readFileSync(path.join(crashed, 'shards', f))) }).toEqual({ f, same: true });
      }
      // Twelve children, each bounded by CHILD_BOUND_MS, so a stuck one fails with its own message first.
    },
    15 * 60_000,
  );
});

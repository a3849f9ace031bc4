// The review server's API over a real dataset written by the ODVG sink: counts, paging, every
// filter, the audit sample, and verdicts that reach the log and the record views, and that
// the next rebuild of the merged set shows the same way.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HumanVerdict } from '../../schemas/generated/types';
import { parseLabelMap, type OdvgRecord } from '../sinks/odvg';
import { OdvgMerger } from '../sinks/odvg-merge';
import { LocalFileStorage } from '../sinks/shard-storage';
import { checkVerdict, FileHumanVerdictLog, HUMAN_VERDICTS_FILE } from './human-verdicts';
import { makeReviewDataset, mergedRecords, REVIEW_VERSIONS } from './review.testkit';
import { startReviewServer, type ReviewServer } from './review-server';
import type { RecordView } from './review-view';

type Page = { total: number; offset: number; limit: number; items: RecordView[]; seed?: number };

describe('the review server API', () => {
  let work: string;
  let dataset: string;
  let records: OdvgRecord[];
  let server: ReviewServer;
  let csrf: string;
  const get = async <T>(p: string): Promise<T> => {
    const res = await fetch(server.url + p.replace(/^\//, ''));
    if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  const status = async (p: string) => (await fetch(server.url + p.replace(/^\//, ''))).status;
  const page = (q: string) => get<Page>(`/api/records?limit=500&${q}`);
  const indices = async (q: string) => (await page(q)).items.map((r) => r.index);
  const post = (body: unknown) =>
    fetch(server.url + 'api/verdicts', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Valor-Csrf': csrf }, body: JSON.stringify(body) });
  /** Indices of the merged records that `pred` holds for, in file order. */
  const where = (pred: (r: OdvgRecord) => boolean) => records.flatMap((r, i) => (pred(r) ? [i] : []));
  const negatives = (r: OdvgRecord) => r.valor?.negatives ?? [];
  const instances = (r: OdvgRecord) => r.detection?.instances ?? [];

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'review-api-'));
    ({ datasetDir: dataset } = await makeReviewDataset(work));
    records = mergedRecords(dataset);
    server = await startReviewServer({ datasetDir: dataset, reviewer: 'ann' });
    csrf = /<meta name="valor-csrf" content="([^"]+)"/.exec(await (await fetch(server.url)).text())![1]!;
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('summarises the set: per-class counts equal a count over the merged file', async () => {
    const s = await get<any>('/api/summary');
    expect(s).toMatchObject({ dataset, records: records.length, images: records.length, reviewer: 'ann', stages: ['COARSE', 'CROP', 'FINAL'] });
    expect(s.verifierVersions).toEqual(REVIEW_VERSIONS);
    const expected = new Map<string, { accepted: number; COARSE: number; CROP: number; FINAL: number }>();
    const of = (c: string) => expected.get(c) ?? expected.set(c, { accepted: 0, COARSE: 0, CROP: 0, FINAL: 0 }).get(c)!;
    for (const r of records) {
      for (const i of instances(r)) of(i.category).accepted++;
      for (const n of negatives(r)) of(n.category)[n.stage]++;
    }
    const got = new Map<string, any>(s.categories.map((c: any) => [c.name, c]));
    expect(new Set(got.keys())).toEqual(new Set(expected.keys()));
    for (const [name, e] of expected)
      expect(got.get(name)).toMatchObject({
        accepted: e.accepted,
        rejected: { COARSE: e.COARSE, CROP: e.CROP, FINAL: e.FINAL },
        humanRejected: 0,
        humanAdded: 0,
      });
    const labels = parseLabelMap(fs.readFileSync(path.join(dataset, 'label_map.json'), 'utf8'));
    expect(s.labels).toEqual(labels);
    expect(got.get('purple zebra').label).toBeNull(); // only rejected boxes have it
    expect(got.get(labels[0]!).label).toBe(0);
  });

  it('pages on the server, in file order', async () => {
    const n = records.length;
    const seen: number[] = [];
    for (let offset = 0; offset < n; offset += 5) {
      const p = await get<Page>(`/api/records?offset=${offset}&limit=5`);
      expect(p).toMatchObject({ total: n, offset, limit: 5 });
      expect(p.items.length).toBe(Math.min(5, n - offset));
      seen.push(...p.items.map((r) => r.index));
    }
    expect(seen).toEqual([...Array(n).keys()]);
    const all = await page('');
    expect(all.items.map((r) => r.filename)).toEqual(records.map((r) => r.filename));
    const one = all.items[3]!;
    expect(await get<RecordView>('/api/records/3')).toEqual(one);
    expect(one.sha256).toBe(path.basename(records[3]!.filename, '.png'));
    expect(one.imageUrl).toBe('/' + records[3]!.filename);
    expect(one.boxes.filter((b) => b.status === 'accepted').length).toBe(instances(records[3]!).length);
    expect(one.boxes.filter((b) => b.stage).length).toBe(negatives(records[3]!).length);
    expect(await status(`/api/records/${n}`)).toBe(404);
    expect(await status('/api/records?limit=0')).toBe(400);
  });

  it('filters by category, status, stage, verifier version and text, one box matching them all', async () => {
    const cat = 'green star';
    expect(await indices(`category=${encodeURIComponent(cat)}`)).toEqual(
      where((r) => instances(r).some((i) => i.category === cat) || negatives(r).some((x) => x.category === cat)),
    );
    expect(await indices('status=accepted')).toEqual(where((r) => instances(r).length > 0));
    expect(await indices('status=rejected')).toEqual(where((r) => negatives(r).length > 0));
    expect(await indices('stage=CROP')).toEqual(where((r) => negatives(r).some((x) => x.stage === 'CROP')));
    const crop = await indices(`stage=CROP&category=${encodeURIComponent(cat)}`);
    expect(crop).toEqual(where((r) => negatives(r).some((x) => x.stage === 'CROP' && x.category === cat)));
    expect(crop.length).toBeGreaterThan(0);
    expect(await indices(`version=${encodeURIComponent(REVIEW_VERSIONS[1]!)}`)).toEqual(where((r) => r.valor!.verifierVersions.includes(REVIEW_VERSIONS[1]!)));
    expect(await indices('q=TAIL')).toEqual(where((r) => negatives(r).some((x) => (x.reason ?? '').includes('tail'))));
    expect(await indices('q=zebra')).toEqual(where((r) => negatives(r).some((x) => x.category === 'purple zebra')));
    expect((await indices('q=zebra')).length).toBe(1);
    expect(await indices('q=tail&stage=FINAL')).toEqual([]); // the 'tail' reasons are all CROP
    expect(await indices('category=no%20such%20thing')).toEqual([]);
    expect(await indices('version=v0')).toEqual([]);
    const bad = await fetch(server.url + 'api/records?status=maybe');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^status:/);
    expect(((await fetch(server.url + 'api/records?stage=LATE').then((r) => r.json())) as { error: string }).error).toMatch(/^stage:/);
  });

  it('serves the audit sample as a seeded permutation: stable per seed, the filtered set in the same relative order', async () => {
    const all = await page('audit=1&seed=7');
    expect(all.seed).toBe(7);
    const order = all.items.map((r) => r.index);
    expect([...order].sort((a, b) => a - b)).toEqual([...Array(records.length).keys()]);
    expect(order).not.toEqual([...Array(records.length).keys()]);
    expect((await page('audit=1&seed=7')).items.map((r) => r.index)).toEqual(order);
    expect((await page('audit=1&seed=8')).items.map((r) => r.index)).not.toEqual(order);
    const accepted = new Set(await indices('status=accepted'));
    expect(await indices('audit=1&seed=7&status=accepted')).toEqual(order.filter((i) => accepted.has(i)));
    const paged = [...(await get<Page>('/api/records?audit=1&seed=7&limit=4')).items, ...(await page('audit=1&seed=7&offset=4')).items];
    expect(paged.map((r) => r.index)).toEqual(order);
    const dflt = await page('audit=1');
    expect(dflt.seed).toBe((await get<any>('/api/summary')).auditSeed); // fixed per server start
  });

  it('logs a checked verdict for each action and shows it in the record, the counts and the filters', async () => {
    const i = where((r) => instances(r).length > 0 && negatives(r).some((n) => n.stage === 'CROP'))[0]!;
    const rec = records[i]!;
    const inst = instances(rec)[0]!;
    const before = await get<RecordView>(`/api/records/${i}`);
    const boxId = before.boxes.find((b) => b.status === 'accepted' && b.category === inst.category && b.bbox.join() === inst.bbox.join())!.id;
    const countsBefore = (await get<any>('/api/summary')).categories.find((c: any) => c.name === inst.category);

    const res = await post({ index: i, action: 'REJECT', box: { bbox: inst.bbox, category: inst.category } });
    expect(res.status).toBe(201);
    const { verdict, record } = (await res.json()) as { verdict: HumanVerdict; record: RecordView };
    expect(verdict).toMatchObject({
      action: 'REJECT',
      reviewer: 'ann',
      imageSha256: path.basename(rec.filename, '.png'),
      filename: rec.filename,
      vlmDecision: 'ACCEPTED',
      rejectedAt: null,
      pseudoLabelIds: rec.valor!.pseudoLabels,
      verifierVersions: rec.valor!.verifierVersions,
      audit: false,
      box: { x1: inst.bbox[0], y1: inst.bbox[1], x2: inst.bbox[2], y2: inst.bbox[3], category: inst.category },
    });
    const lines = fs.readFileSync(path.join(dataset, HUMAN_VERDICTS_FILE), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(checkVerdict(JSON.parse(lines[0]!))).toEqual(verdict);
    const shown = record.boxes.find((b) => b.id === boxId)!; // the same id after the change
    expect(shown).toMatchObject({ status: 'rejected', stage: null, human: { action: 'REJECT', reviewer: 'ann' } });
    expect(await get<RecordView>(`/api/records/${i}`)).toEqual(record);
    const countsAfter = (await get<any>('/api/summary')).categories.find((c: any) => c.name === inst.category);
    expect(countsAfter.accepted).toBe(countsBefore.accepted - 1);
    expect(countsAfter.humanRejected).toBe(countsBefore.humanRejected + 1);

    // A verifier negative put back: REJECTED at its stage, accepted now, same id.
    const neg = negatives(rec).find((n) => n.stage === 'CROP')!;
    const negId = `n|${neg.category}|${neg.bbox.join(',')}|CROP`;
    const back = await post({ index: i, action: 'ACCEPT', box: { bbox: neg.bbox, category: neg.category }, audit: true });
    expect(back.status).toBe(201);
    const b = (await back.json()) as { verdict: HumanVerdict; record: RecordView };
    expect(b.verdict).toMatchObject({ vlmDecision: 'REJECTED', rejectedAt: 'CROP', audit: true });
    expect(b.record.boxes.find((x) => x.id === negId)).toMatchObject({ status: 'accepted', stage: null, human: { action: 'ACCEPT' } });
    expect(await indices(`stage=CROP&category=${encodeURIComponent(neg.category)}`)).not.toContain(i);

    // Relabel and add only to label-map categories; the refusal names the category.
    const other = (await get<any>('/api/summary')).labels.find((l: string) => l !== neg.category);
    const wolf = await post({ index: i, action: 'RELABEL', box: { bbox: neg.bbox, category: neg.category }, newLabel: 'purple zebra' });
    expect(wolf.status).toBe(400);
    expect(((await wolf.json()) as { error: string }).error).toMatch(/newLabel: 'purple zebra' is not in label_map\.json/);
    const rel = await post({ index: i, action: 'RELABEL', box: { bbox: neg.bbox, category: neg.category }, newLabel: other });
    expect(rel.status).toBe(201);
    const relabelled = ((await rel.json()) as { record: RecordView }).record.boxes.find((x) => x.id === `h|${other}|${neg.bbox.join(',')}`);
    expect(relabelled).toMatchObject({ status: 'accepted', category: other, human: { action: 'RELABEL', newLabel: other } });
    const add = await post({ index: i, action: 'ADD', box: { bbox: [3.4, 4.6, 40, 41], category: other } });
    expect(add.status).toBe(201);
    const added = (await add.json()) as { verdict: HumanVerdict; record: RecordView };
    expect(added.verdict).toMatchObject({ vlmDecision: 'NONE', box: { x1: 3, y1: 5, x2: 40, y2: 41 } });
    expect(added.record.boxes.find((x) => x.id === `h|${other}|3,5,40,41`)).toMatchObject({ status: 'accepted', human: { action: 'ADD' } });
    expect((await get<any>('/api/summary')).categories.find((c: any) => c.name === other).humanAdded).toBe(2);
    expect((await post({ index: i, action: 'ADD', box: { bbox: [1, 1, 9, 9], category: 'purple zebra' } })).status).toBe(400);

    // Bad bodies name their field; nothing is logged for them.
    const errors = async (body: unknown) => ((await (await post(body)).json()) as { error: string }).error;
    expect(await errors({ action: 'REJECT', box: { bbox: inst.bbox, category: inst.category } })).toMatch(/^index:/);
    expect(await errors({ index: i, action: 'MAYBE', box: { bbox: inst.bbox, category: inst.category } })).toMatch(/^action:/);
    expect(await errors({ index: i, action: 'REJECT', box: { bbox: [1, 2, 3], category: inst.category } })).toMatch(/^box\.bbox:/);
    expect(await errors({ index: i, action: 'REJECT', box: { bbox: [1, 2, 3, 4], category: inst.category } })).toMatch(/^box: record \d+ has no box/);
    expect(await errors({ index: 10_000, action: 'REJECT', box: { bbox: inst.bbox, category: inst.category } })).toMatch(/^index: no record/);
    expect(await errors({ index: i, action: 'RELABEL', box: { bbox: neg.bbox, category: other } })).toMatch(/^newLabel:/);
    expect(fs.readFileSync(path.join(dataset, HUMAN_VERDICTS_FILE), 'utf8').trim().split('\n')).toHaveLength(4);

    const agreement = await get<any>('/api/agreement');
    expect(agreement.accepted).toMatchObject({ reviewed: 1, confirmed: 0, rate: 0 });
    // The restored negative was relabelled later: its latest verdict agrees with the verifier's rejection.
    expect(agreement.rejected).toMatchObject({ reviewed: 1, confirmed: 1, rate: 1 });
    expect(agreement.audit.rejected).toMatchObject({ reviewed: 1, confirmed: 0, rate: 0 });
    expect(agreement.audit.accepted).toEqual({ reviewed: 0, confirmed: 0, rate: null, low: null, high: null });
  });

  it('shows the same record after a restart (log on top of the file) and after the merge applied the log', async () => {
    const views = (await page('')).items;
    await server.close();
    server = await startReviewServer({ datasetDir: dataset, reviewer: 'ann' });
    expect((await page('')).items).toEqual(views);
    await server.close();
    const merger = new OdvgMerger(new LocalFileStorage(dataset), { shardDir: 'shards', mode: 'od', verdicts: () => new FileHumanVerdictLog(dataset).all() });
    await merger.update();
    const counts = await merger.write(parseLabelMap(fs.readFileSync(path.join(dataset, 'label_map.json'), 'utf8')));
    expect(counts.humanVerdicts).toBe(4);
    expect(mergedRecords(dataset).some((r) => r.valor?.human?.length)).toBe(true);
    server = await startReviewServer({ datasetDir: dataset, reviewer: 'ann' });
    expect((await page('')).items).toEqual(views);
  });
});

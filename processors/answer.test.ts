// The answer node with crafted programs: tool calls from inside the sandbox reach the host's
// detector (simulated, from a synthetic corpus), VLM (the fake OpenAI server through the real
// SDK) and depth model (the ONNX stand-in), and come back in the method's shapes; every way a
// program can end gets an answer record that says how.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { register } from 'prom-client';
import sharp from 'sharp';
import { readCorpus } from '../connectors/corpus/corpus-reader';
import { toImageQuery } from '../connectors/corpus/corpus-source';
import { fixedClock } from '../core/clock';
import { readGroundTruth } from '../evaluation/label-quality';
import { generateSyntheticCorpus } from '../evaluation/synthetic-corpus';
import { writeTestDepthModel } from '../models/depth/test-model';
import { writeTestDetector } from '../models/detector/test-model';
import { cropRegion } from '../models/verifier/verifier-images';
import type { Answer, ImageQuery } from '../schemas/generated/types';
import { FakeOpenAIServer, FakeModelRequest } from '../test/fakes/fake-openai-server';
import { TopologyTestDriver } from '../test/harness/topology-test-driver';
import { valorTopology } from '../topology/valor-topology';

jest.setTimeout(120_000);

describe('answer node', () => {
  let dir: string;
  let gtFile: string;
  let queries: ImageQuery[];
  let server: FakeOpenAIServer;
  let baseURL: string;
  let depthModel: string;
  const vqaRequests: FakeModelRequest[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'answer-node-'));
    const corpus = await generateSyntheticCorpus({ outDir: path.join(dir, 'corpus'), count: 6, seed: 7 });
    gtFile = corpus.groundTruthFile;
    queries = [];
    for await (const item of readCorpus(corpus.corpusFile)) if (item.ok) queries.push(toImageQuery(item.event, 'synthetic', fixedClock(0)));
    server = new FakeOpenAIServer({
      oracle: (req) => {
        vqaRequests.push(req);
        return `seen ${req.images.length} image(s): ${req.text}`;
      },
    });
    baseURL = await server.start();
    process.env.ANSWER_TEST_KEY = 'sk-answer-test-secret';
    depthModel = writeTestDepthModel(path.join(dir, 'models')).path;
  });
  afterAll(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const config = (over: Record<string, unknown> = {}) => ({
    detector: { kind: 'simulated', groundTruth: gtFile },
    vqa: { provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL, apiKeyEnv: 'ANSWER_TEST_KEY' } },
    depth: { modelPath: depthModel, inputSize: 28, output: 'depth' },
    images: { allowedRoots: [dir] },
    sandbox: { timeoutMs: 20_000 },
    ...over,
  });

  async function answer(qs: ImageQuery[], over: Record<string, unknown> = {}, driver?: TopologyTestDriver) {
    const own = driver ?? new TopologyTestDriver(valorTopology({ partitions: 2, nodeConfig: { answer: config(over) } }), { only: ['answer'] });
    try {
      await own.pipe('valor.image-queries', qs);
      const answers = (await own.readAll<Answer>('valor.answers')).map((r) => r.value);
      return { answers, deadLetters: await own.deadLetters() };
    } finally {
      if (!driver) await own.close();
    }
  }

  const withProgram = (q: ImageQuery, program: string, id = q.id): ImageQuery => ({
    ...q,
    id,
    program: `<plan>1. crafted</plan><answer>\n${program}\n</answer>`,
  });

  it('serves gd_detect, depth and vqa from the host in the method shapes, records every call, and costs vqa', async () => {
    const truth = readGroundTruth(gtFile).get(queries[0]!.id)!;
    const [a, b] = [truth.objects[0]!, truth.objects[1]!];
    const program = `
dets = gd_detect(img, "${a.category}, ${b.category}")
first = [d for d in dets if d["label"] == "${a.category}"][0]
final_answer = {"dets": dets, "depth": depth(img, first["bbox"]), "crop": vqa(img, first["bbox"], "what colour is it?"), "whole": vqa(img, None, "how many shapes?")}
`;
    const { answers, deadLetters } = await answer([withProgram(queries[0]!, program)]);
    expect(deadLetters).toEqual([]);
    expect(answers).toHaveLength(1);
    const r = answers[0]!;
    expect(r).toMatchObject({ status: 'ANSWERED', programSource: 'EVENT', error: null, queryId: queries[0]!.id });
    const value = JSON.parse(r.answerJson!) as { dets: Array<{ bbox: number[]; label: string }>; depth: number; crop: string; whole: string };
    // gd_detect: [{"bbox": [x1, y1, x2, y2], "label"}] with a box on each object asked for, at inference thresholds.
    for (const d of value.dets) {
      expect(Object.keys(d).sort()).toEqual(['bbox', 'label']);
      expect(d.bbox).toHaveLength(4);
      expect(d.bbox.every((v) => Number.isInteger(v) && v >= 0)).toBe(true); // whole pixels, as VALOR's
    }
    for (const o of [a, b]) {
      const hit = value.dets.find((d) => d.label === o.category && d.bbox.every((v, i) => Math.abs(v - o.bbox[i]!) <= 3));
      expect(hit).toBeDefined();
    }
    expect(typeof value.depth).toBe('number');
    expect(Number.isFinite(value.depth)).toBe(true);
    expect(value.crop).toBe('seen 1 image(s): what colour is it?');
    expect(value.whole).toBe('seen 1 image(s): how many shapes?');
    expect(r.toolCalls.map((c) => c.tool)).toEqual(['gd_detect', 'depth', 'vqa', 'vqa']);
    expect(JSON.parse(r.toolCalls[0]!.argsJson)).toEqual(['image.jpg', `${a.category}, ${b.category}`]);
    expect(JSON.parse(r.toolCalls[0]!.resultJson!)).toEqual(value.dets);
    expect(r.toolCalls.every((c) => c.error === null && c.latencyMs >= 0)).toBe(true);
    expect(r.usage.calls).toBe(2);
    expect(r.usage.costUsd).toBeGreaterThan(0);
    expect(r.lineage.versions).toMatchObject({
      'detector.kind': 'simulated',
      'detector.boxThreshold': '0.35',
      'detector.textThreshold': '0.25',
      'vqa.model': 'gpt-5-mini',
    });
    // The first vqa got the box's crop (padded 25% as VALOR's, long side 640), the second the whole image.
    const [crop, whole] = await Promise.all(vqaRequests.slice(-2).map((q) => sharp(q.images[0]!).metadata()));
    const box = value.dets.find((d) => d.label === a.category)!.bbox;
    expect(Math.max(crop!.width!, crop!.height!)).toBe(640);
    const region = cropRegion({ x1: box[0]!, y1: box[1]!, x2: box[2]!, y2: box[3]! }, truth.width, truth.height, 0.25);
    expect(crop!.width! / crop!.height!).toBeCloseTo(region.width / region.height, 1);
    expect([whole!.width, whole!.height]).toEqual([truth.width, truth.height]);
    // No secret in the record.
    expect(JSON.stringify(r)).not.toContain('sk-answer-test-secret');
  });

  it('runs gd_detect on a GroundingDINO ONNX export too (the stand-in model), in the same shapes', async () => {
    const model = writeTestDetector(path.join(dir, 'gdino'));
    const detector = { kind: 'onnx', modelPath: model.huggingface, tokenizerPath: model.tokenizerJson, resize: { shortSide: 128, maxSize: 213 } };
    const { answers, deadLetters } = await answer([withProgram(queries[0]!, 'final_answer = gd_detect(img_pth, "red circle, blue square")', 'onnx')], {
      detector,
    });
    expect(deadLetters).toEqual([]);
    const r = answers.find((a) => a.queryId === 'onnx')!;
    expect(r.status).toBe('ANSWERED');
    const dets = JSON.parse(r.answerJson!) as Array<{ bbox: number[]; label: string }>;
    const w = readGroundTruth(gtFile).get(queries[0]!.id)!.width;
    expect(dets.length).toBeGreaterThan(0); // the stand-in lights some queries on these tokens
    for (const d of dets) {
      expect(Object.keys(d).sort()).toEqual(['bbox', 'label']);
      expect(d.bbox.every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
      expect(d.bbox[2]!).toBeLessThanOrEqual(w - 1);
    }
    expect(r.lineage.versions).toMatchObject({ 'detector.kind': 'onnx', 'detector.boxThreshold': '0.35', 'detector.textThreshold': '0.25' });
  });

  it('answers vqa from its cache the second time (same model, image, box and prompt)', async () => {
    const driver = new TopologyTestDriver(valorTopology({ partitions: 1, nodeConfig: { answer: config() } }), { only: ['answer'] });
    try {
      const p = 'final_answer = vqa(img, None, "is there a star?")';
      const first = await answer([withProgram(queries[1]!, p, 'cache-1')], {}, driver);
      const before = vqaRequests.length;
      const second = await answer([withProgram(queries[1]!, p, 'cache-2')], {}, driver);
      const both = [first.answers.find((a) => a.queryId === 'cache-1')!, second.answers.find((a) => a.queryId === 'cache-2')!];
      expect(both.map((a) => a.answer)).toEqual(['seen 1 image(s): is there a star?', 'seen 1 image(s): is there a star?']);
      expect(both.map((a) => a.usage.calls)).toEqual([1, 0]);
      expect(vqaRequests.length).toBe(before);
    } finally {
      await driver.close();
    }
  });

  it('stops a program that loops on tool calls at its budget, with a record saying so', async () => {
    const { answers } = await answer([withProgram(queries[2]!, 'while True:\n    gd_detect(img, "red circle")')], { maxToolCalls: 5 });
    const r = answers[0]!;
    expect(r.status).toBe('TOOL_BUDGET');
    expect(r.answer).toBeNull();
    expect(r.error).toMatch(/ToolError at line 3: gd_detect: tool-call budget of 5 calls spent/);
    expect(r.toolCalls).toHaveLength(6);
    expect(r.toolCalls[5]!.error).toMatch(/budget/);
    // The metrics say so too.
    const counted = (await register.getSingleMetric('valor_answers_total')!.get()).values;
    expect(counted.some((v) => v.labels.status === 'TOOL_BUDGET' && v.labels.node === 'answer' && v.value >= 1)).toBe(true);
    const calls = (await register.getSingleMetric('valor_answer_tool_calls_total')!.get()).values;
    expect(calls.some((v) => v.labels.tool === 'gd_detect' && v.labels.outcome === 'error' && v.value >= 1)).toBe(true);
  });

  it('reports a crash in a tool (an image that cannot be decoded) in the record', async () => {
    const bad = path.join(dir, 'not-an-image.png');
    fs.writeFileSync(bad, 'this is text, not a PNG');
    const q: ImageQuery = { ...queries[3]!, id: 'bad-image', image: { uri: bad, bytes: null, sha256: null, width: null, height: null, mediaType: null } };
    const { answers, deadLetters } = await answer([withProgram(q, 'final_answer = depth(img, [1, 2, 3, 4])')]);
    expect(deadLetters).toEqual([]);
    expect(answers[0]).toMatchObject({ status: 'FAILED', answer: null });
    expect(answers[0]!.error).toMatch(/ToolError at line 2: depth: image refused .*not a recognised image/);
    expect(answers[0]!.toolCalls[0]!.error).toBeTruthy();
  });

  it('gives every other ending a record: timeout, a raising program, no program', async () => {
    const [timeout, raising, none] = ['t', 'r', 'n'].map((s, i) => ({ ...queries[i]!, id: `end-${s}` }));
    // Short limits for the loop only: a busy machine can take over a second to start Python.
    const looped = await answer([withProgram(timeout!, 'while True:\n    pass')], { sandbox: { timeoutMs: 3_000, cpuSeconds: 1 } });
    const { answers, deadLetters } = await answer([withProgram(raising!, 'x = 1 / 0'), { ...none!, program: null }]);
    expect([...deadLetters, ...looped.deadLetters]).toEqual([]);
    const by = new Map([...answers, ...looped.answers].map((a) => [a.queryId, a]));
    expect(by.get('end-t')).toMatchObject({ status: 'TIMEOUT', answer: null });
    expect(by.get('end-r')!.status).toBe('FAILED');
    expect(by.get('end-r')!.error).toMatch(/ZeroDivisionError/);
    expect(by.get('end-n')).toMatchObject({ status: 'NO_PROGRAM', programSource: 'NONE', program: null });
    expect(by.get('end-n')!.error).toMatch(/nodes\.answer\.planner/);
  });

  it('retries a program that failed on a VLM outage, then dead-letters it with the cause, instead of answering FAILED', async () => {
    const down = new FakeOpenAIServer({ oracle: () => 'blue', faults: { down: true } });
    const url = await down.start();
    try {
      const over = {
        vqa: {
          provider: { kind: 'openai-responses', model: 'gpt-5-mini', baseURL: url, apiKeyEnv: 'ANSWER_TEST_KEY' },
          limits: { maxAttempts: 2, backoff: { initialDelayMs: 1, maxDelayMs: 1 }, breaker: { failureThreshold: 100 } },
          cache: { enabled: false },
        },
        retry: { maxAttempts: 2, initialDelayMs: 1 },
      };
      const p = 'final_answer = vqa(img, None, "what colour?")';
      const { answers, deadLetters } = await answer([withProgram(queries[5]!, p, 'outage')], over);
      expect(answers.filter((a) => a.queryId === 'outage')).toEqual([]);
      expect(deadLetters).toHaveLength(1);
      expect(deadLetters[0]!.node).toBe('answer');
      expect(deadLetters[0]!.reason).toMatch(/gave up after 2 attempts/);
      // Back up: the same query is answered.
      down.faults.set({ down: false });
      const again = await answer([withProgram(queries[5]!, p, 'outage')], over);
      expect(again.answers.find((a) => a.queryId === 'outage')).toMatchObject({ status: 'ANSWERED', answer: 'blue' });
    } finally {
      await down.close();
    }
  });

  it('reaches nothing on the host but the tools: no environment, no network, no files', async () => {
    const program = `
import os, socket
env = dict(os.environ)
try:
    socket.create_connection(("127.0.0.1", ${new URL(baseURL).port}), timeout=1)
    net = "connected"
except Exception as e:
    net = type(e).__name__
try:
    open(${JSON.stringify(gtFile)}).read()
    files = "read"
except Exception as e:
    files = type(e).__name__
final_answer = {"env": env, "net": net, "files": files}
`;
    const { answers } = await answer([withProgram(queries[4]!, program)]);
    const r = answers[0]!;
    if (r.status === 'ANSWERED') {
      const v = JSON.parse(r.answerJson!) as { env: Record<string, string>; net: string; files: string };
      expect(v.env).toEqual({});
      expect(v.net).not.toBe('connected');
      expect(v.files).not.toBe('read');
    } else {
      // The sandbox refuses the imports themselves: just as good.
      expect(r.error).toMatch(/import|not allowed|ImportError|blocked/i);
    }
  });
});

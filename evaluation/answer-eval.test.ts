import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Answer } from '../schemas/generated/types';
import { AnswerEvaluator, errorHead, formatAnswerEval, readAnswersJsonl } from './answer-eval';

const answer = (queryId: string, over: Partial<Answer> = {}): Answer => ({
  id: `ans-${queryId}`,
  queryId,
  question: 'q?',
  image: { uri: `images/${queryId}.png`, bytes: null, sha256: null, width: 64, height: 48, mediaType: 'image/png' },
  program: '<plan>p</plan><answer>\nfinal_answer = "yes"\n</answer>',
  programSource: 'EVENT',
  status: 'ANSWERED',
  answer: null,
  answerJson: null,
  error: null,
  toolCalls: [],
  toolCallsTruncated: 0,
  runMs: 10,
  usage: { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 },
  metadata: {},
  createdAt: 0,
  lineage: { parents: [queryId], producedBy: 'answer', producerVersion: '0', versions: {}, source: null },
  ...over,
});
const said = (queryId: string, text: string) => answer(queryId, { answer: text, answerJson: JSON.stringify(text) });
const failed = (queryId: string, status: Answer['status'], error: string | null) => answer(queryId, { status, error });

const TRUTH: Array<[string, string, string]> = [
  ['q1', 'yes', 'left'],
  ['q2', 'no', 'left'],
  ['q3', '2', 'count'],
  ['q4', '3', 'count'],
  ['q5', '2.5', 'depth'],
  ['q6', 'red circle', 'larger'],
  ['q7', 'yes', 'above'],
  ['q8', 'no', 'below'],
  ['q9', '1', 'count'],
  ['q10', 'yes', 'left'],
  ['q11', 'no', 'above'],
  ['q12', 'yes', 'below'],
];

describe('AnswerEvaluator', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'answer-eval-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function evaluator(): AnswerEvaluator {
    const file = path.join(dir, 'ground-truth.jsonl');
    // Extra fields (objects, program, ...) are ignored: only id, answer and question_type count.
    fs.writeFileSync(
      file,
      TRUTH.map(([id, ans, type]) => JSON.stringify({ id, image: `images/${id}.png`, answer: ans, question_type: type, objects: [] })).join('\n') + '\n',
    );
    return AnswerEvaluator.fromGroundTruthFile(file);
  }

  function addAll(e: AnswerEvaluator): void {
    e.add(said('q1', 'no')); // replaced below by a replay's answer
    e.add(said('q2', 'No.'));
    e.add(said('q3', '2'));
    e.add(answer('q4', { answerJson: '4' })); // a count off by one scores 0; text missing, JSON read
    e.add(said('q5', '2.3')); // MRA: |2.3 - 2.5| / 2.5 = 0.08 < 1 - θ for θ = 0.50..0.90: 9 of 10
    e.add(said('q6', 'Red circle.'));
    // q7 never answered: missing.
    e.add(failed('q8', 'FAILED', "NameError at line 4: name 'x' is not defined\nTraceback (most recent call last):"));
    e.add(failed('q9', 'TIMEOUT', 'wall time limit of 5000 ms reached'));
    e.add(failed('q10', 'TOOL_BUDGET', 'ToolError at line 3: gd_detect: budget of 8 calls spent'));
    e.add(failed('q11', 'NO_PROGRAM', null));
    e.add(failed('q12', 'FAILED', "NameError at line 7: name 'y' is not defined"));
    e.add(said('q99', 'yes')); // not in the ground truth
    e.add(said('q1', 'Yes'));
  }

  it('scores per question type and overall, failures counting 0 (hand-computed)', () => {
    const e = evaluator();
    addAll(e);
    const s = e.summary();
    expect(s.byType.left).toEqual({ n: 3, answered: 2, accuracy: 2 / 3, scoring: 'exact match', failed: 1, missing: 0 });
    expect(s.byType.count).toEqual({ n: 3, answered: 2, accuracy: 1 / 3, scoring: 'exact match', failed: 1, missing: 0 });
    expect(s.byType.depth!.scoring).toBe('MRA');
    expect(s.byType.depth!.accuracy).toBeCloseTo(0.9, 12);
    expect(s.byType.larger).toEqual({ n: 1, answered: 1, accuracy: 1, scoring: 'exact match', failed: 0, missing: 0 });
    expect(s.byType.above).toEqual({ n: 1, answered: 0, accuracy: 0, scoring: 'exact match', failed: 1, missing: 1 });
    expect(s.byType.below).toEqual({ n: 2, answered: 0, accuracy: 0, scoring: 'exact match', failed: 2, missing: 0 });
    // 1 + 1 (left) + 1 + 0 + 0 (count) + 0.9 (depth) + 1 (larger) + 0 (above) + 0 + 0 (below), over 11 answered queries.
    expect(s.overall).toMatchObject({ n: 11, answered: 6, scoring: 'exact match + MRA', failed: 5, missing: 1 });
    expect(s.overall.accuracy).toBeCloseTo(4.9 / 11, 12);
    expect(s.failuresByStatus).toEqual({ FAILED: 2, TIMEOUT: 1, TOOL_BUDGET: 1, NO_PROGRAM: 1 });
    expect(s.topErrors).toEqual([
      { reason: "FAILED: NameError at line N: name '…' is not defined", count: 2 },
      { reason: 'TIMEOUT: wall time limit of N ms reached', count: 1 },
      { reason: 'TOOL_BUDGET: ToolError at line N: gd_detect: budget of N calls spent', count: 1 },
      { reason: 'NO_PROGRAM', count: 1 },
    ]);
    expect([s.records, s.replaced, s.unknown]).toEqual([13, 1, 1]);
  });

  it('lets a later answer replace an earlier one for the same query, either way', () => {
    const e = new AnswerEvaluator(new Map([['a', { answer: '2', questionType: 'count' }]]));
    e.add(said('a', '2'));
    expect(e.summary().overall.accuracy).toBe(1);
    e.add(failed('a', 'TIMEOUT', 'cpu limit'));
    expect(e.summary().overall).toMatchObject({ n: 1, answered: 0, accuracy: 0, failed: 1 });
    e.add(answer('a', { answer: '2', answerJson: '2' }));
    expect(e.summary()).toMatchObject({ overall: { n: 1, answered: 1, accuracy: 1, failed: 0 }, records: 3, replaced: 2, failuresByStatus: {} });
  });

  it('counts the ground truth as missing before any answer arrives', () => {
    const s = evaluator().summary();
    expect(s.overall).toMatchObject({ n: 0, answered: 0, accuracy: 0, missing: TRUTH.length });
    expect(s.byType.count).toMatchObject({ n: 0, missing: 3 });
  });

  it('cuts an error to its first line and 120 characters', () => {
    expect(errorHead('ValueError at line 2: bad\n  File "<program>", line 2')).toBe('ValueError at line 2: bad');
    const long = errorHead('x'.repeat(300));
    expect(long).toHaveLength(120);
    expect(long.endsWith('…')).toBe(true);
    expect(errorHead(null)).toBe('');
  });

  it('prints one line per type, the overall line and the failure reasons', () => {
    const e = evaluator();
    addAll(e);
    const text = formatAnswerEval(e.summary());
    const lines = text.split('\n');
    expect(lines[0]).toBe('answers: 13 record(s) for 12 query(ies), 1 replaced by a later answer; 1 not in the ground truth');
    expect(lines).toContain('left     n=3   accuracy 0.667 (exact match)  failed 1  missing 0');
    expect(lines).toContain('depth    n=1   accuracy 0.900 (MRA)  failed 0  missing 0');
    expect(lines).toContain('overall  n=11  accuracy 0.445 (exact match + MRA)  failed 5  missing 1');
    expect(lines).toContain('failures by status: FAILED 2, NO_PROGRAM 1, TIMEOUT 1, TOOL_BUDGET 1');
    expect(lines).toContain("     2  FAILED: NameError at line N: name '…' is not defined");
  });

  it('refuses a ground-truth line without id, answer or question_type, naming the line', () => {
    const file = path.join(dir, 'bad-truth.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ id: 'a', answer: 'yes', question_type: 'left' })}\n${JSON.stringify({ id: 'b', answer: 'no' })}\n`);
    expect(() => AnswerEvaluator.fromGroundTruthFile(file)).toThrow(`${file}:2: a ground-truth line needs id, answer and question_type`);
  });
});

describe('readAnswersJsonl', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'answer-jsonl-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads bare Answer lines and topic-dump lines, bytes as Buffers, skipping tombstones', () => {
    const file = path.join(dir, 'valor.answers.jsonl');
    const inline = answer('q2', { image: { uri: null, bytes: Buffer.from('png'), sha256: null, width: null, height: null, mediaType: null } });
    fs.writeFileSync(
      file,
      [
        JSON.stringify(said('q1', 'yes')),
        // The embedded runtime's dump (runtime/embedded/topic-dump.ts): bytes spelled {base64}.
        JSON.stringify({ key: 'q2', partition: 0, offset: 3, value: { ...inline, image: { ...inline.image, bytes: { base64: 'cG5n' } } } }),
        JSON.stringify({ key: 'q3', partition: 1, offset: 0, value: null }),
        '',
      ].join('\n'),
    );
    const got = readAnswersJsonl(file);
    expect(got.map((a) => a.queryId)).toEqual(['q1', 'q2']);
    expect(Buffer.isBuffer(got[1]!.image.bytes)).toBe(true);
    expect(got[1]!.image.bytes!.toString()).toBe('png');
  });

  it('names the line that is not JSON or not an Answer', () => {
    const file = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(file, `${JSON.stringify(said('q1', 'yes'))}\n{"queryId": 1}\n`);
    expect(() => readAnswersJsonl(file)).toThrow(`${file}:2: not an Answer record (needs queryId and status)`);
    fs.writeFileSync(file, '{oops\n');
    expect(() => readAnswersJsonl(file)).toThrow(new RegExp(`^${file}:1: not JSON`));
  });
});

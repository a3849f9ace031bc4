// `eval answers` through the real program (commander parsing included), on JSONL answers;
// the topic path with its reader substituted, so no broker is needed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { Answer } from '../../schemas/generated/types';
import type { AppConfig } from '../config';
import { buildProgram } from '../main';
import { runEvalAnswers } from './eval-answers';

const answer = (queryId: string, status: Answer['status'], text: string | null, error: string | null = null): Answer => ({
  id: `ans-${queryId}`,
  queryId,
  question: 'q?',
  image: { uri: `images/${queryId}.png`, bytes: null, sha256: null, width: 64, height: 48, mediaType: 'image/png' },
  program: null,
  programSource: 'EVENT',
  status,
  answer: text,
  answerJson: text === null ? null : JSON.stringify(text),
  error,
  toolCalls: [],
  toolCallsTruncated: 0,
  runMs: 5,
  usage: { calls: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costUsd: 0 },
  metadata: {},
  createdAt: 0,
  lineage: { parents: [queryId], producedBy: 'answer', producerVersion: '0', versions: {}, source: null },
});

describe('valor-stream eval answers', () => {
  let dir: string;
  let gt: string;
  let answersFile: string;
  let printed: string[];
  let log: jest.SpyInstance;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-answers-'));
    gt = path.join(dir, 'ground-truth.jsonl');
    fs.writeFileSync(
      gt,
      [
        { id: 'syn-1', answer: 'yes', question_type: 'left' },
        { id: 'syn-2', answer: '2', question_type: 'count' },
        { id: 'syn-3', answer: '3', question_type: 'count' },
        { id: 'syn-4', answer: 'no', question_type: 'above' },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    );
    // The embedded runtime's dump format: {key, partition, offset, value} per line.
    answersFile = path.join(dir, 'valor.answers.jsonl');
    fs.writeFileSync(
      answersFile,
      [answer('syn-1', 'ANSWERED', 'yes'), answer('syn-2', 'ANSWERED', '2'), answer('syn-3', 'TIMEOUT', null, 'wall time limit of 5000 ms reached')]
        .map((v, i) => JSON.stringify({ key: v.queryId, partition: 0, offset: i, value: v }))
        .join('\n') + '\n',
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    printed = [];
    log = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
  });
  afterEach(() => log.mockRestore());

  const quiet = (c: Command): Command => {
    c.exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
    c.commands.forEach(quiet);
    return c;
  };
  const run = (...args: string[]) => quiet(buildProgram()).parseAsync(['node', 'valor-stream', ...args]);

  it('prints the table for a JSONL dump of the answers topic', async () => {
    await run('eval', 'answers', '--ground-truth', gt, '--answers', answersFile);
    expect(printed).toHaveLength(1);
    expect(printed[0]!.split('\n')).toEqual([
      'answers: 3 record(s) for 3 query(ies), 0 replaced by a later answer; 0 not in the ground truth',
      'above    n=0  accuracy 0.000 (exact match)  failed 0  missing 1',
      'count    n=2  accuracy 0.500 (exact match)  failed 1  missing 0',
      'left     n=1  accuracy 1.000 (exact match)  failed 0  missing 0',
      'overall  n=3  accuracy 0.667 (exact match)  failed 1  missing 1',
      'failures by status: TIMEOUT 1',
      'commonest failure reasons:',
      '     1  TIMEOUT: wall time limit of N ms reached',
    ]);
  });

  it('prints the summary as JSON with --json', async () => {
    await run('eval', 'answers', '--json', '--ground-truth', gt, '--answers', answersFile);
    const s = JSON.parse(printed[0]!);
    expect(s.overall).toEqual({ n: 3, answered: 2, accuracy: 2 / 3, scoring: 'exact match', failed: 1, missing: 1 });
    expect(s.byType.count).toMatchObject({ n: 2, answered: 1, accuracy: 0.5 });
    expect(s.failuresByStatus).toEqual({ TIMEOUT: 1 });
  });

  it('wants exactly one source of answers, and --brokers only with --topic', async () => {
    await expect(run('eval', 'answers', '--ground-truth', gt)).rejects.toThrow('give one of --answers <file.jsonl> or --topic <name>');
    await expect(run('eval', 'answers', '--ground-truth', gt, '--answers', answersFile, '--topic', 'valor.answers')).rejects.toThrow(/give one of/);
    await expect(run('eval', 'answers', '--ground-truth', gt, '--answers', answersFile, '--brokers', 'k:9092')).rejects.toThrow('--brokers goes with --topic');
    await expect(run('eval', 'answers', '--answers', answersFile)).rejects.toThrow(/required option '--ground-truth <file>' not specified/);
  });

  it('reads the topic with the brokers given, from a config given before or after `answers`', async () => {
    const configFile = path.join(dir, 'valor.json');
    fs.writeFileSync(configFile, JSON.stringify({ kafka: { brokers: ['from-file:9092'] } }));
    const calls: Array<[string[], string, string | undefined, boolean]> = [];
    const readTopic = async (config: AppConfig, topic: string, file: string | undefined, given: boolean) => {
      calls.push([config.kafka.brokers, topic, file, given]);
      return [answer('syn-1', 'ANSWERED', 'no'), answer('syn-1', 'ANSWERED', 'yes')];
    };
    const print = (t: string) => printed.push(t);
    // `make test` exports KAFKA_BOOTSTRAP, which would outrank the config file.
    const bootstrap = process.env.KAFKA_BOOTSTRAP;
    delete process.env.KAFKA_BOOTSTRAP;
    try {
      await runEvalAnswers({ groundTruth: gt, topic: 'valor.answers', brokers: 'a:1, b:2' }, { readTopic, print });
      await runEvalAnswers({ groundTruth: gt, topic: 'valor.answers', config: configFile }, { readTopic, print });
    } finally {
      if (bootstrap !== undefined) process.env.KAFKA_BOOTSTRAP = bootstrap;
    }
    expect(calls).toEqual([
      [['a:1', 'b:2'], 'valor.answers', undefined, true],
      [['from-file:9092'], 'valor.answers', configFile, false],
    ]);
    // The replayed answer replaced the first: syn-1 is right.
    expect(printed[0]).toContain('left     n=1  accuracy 1.000 (exact match)');
    expect(printed[0]).toContain('1 replaced by a later answer');
    // -c is eval's option too: before `answers` it still reaches the subcommand.
    const program = quiet(buildProgram());
    const evalAnswers = program.commands.find((c) => c.name() === 'eval')!.commands.find((c) => c.name() === 'answers')!;
    let seen: unknown;
    evalAnswers.action((_o, cmd: Command) => void (seen = cmd.optsWithGlobals()));
    await program.parseAsync(['node', 'valor-stream', 'eval', '-c', configFile, 'answers', '--ground-truth', gt, '--topic', 't']);
    expect(seen).toMatchObject({ config: configFile, groundTruth: gt, topic: 't' });
    await program.parseAsync(['node', 'valor-stream', 'eval', 'answers', '--ground-truth', gt, '--topic', 't', '-c', configFile]);
    expect(seen).toMatchObject({ config: configFile, groundTruth: gt, topic: 't' });
  });

  it('keeps `eval --corpus-dir` the verifier evaluation, and still requires --corpus-dir', async () => {
    await expect(run('eval')).rejects.toThrow("error: required option '--corpus-dir <dir>' not specified");
    // The verifier path runs: it reads the corpus's ground truth first.
    const missing = path.join(dir, 'no-corpus');
    await expect(run('eval', '--corpus-dir', missing, '--out', path.join(dir, 'out'))).rejects.toThrow(path.join(missing, 'ground-truth.jsonl'));
  });
});

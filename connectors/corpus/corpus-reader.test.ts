import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_TEXT_LIMITS } from '../../core/text-limits';
import type { DeadLetter } from '../../schemas/generated/types';
import { passthroughTopology, valorTopology } from '../../topology/valor-topology';
import { CorpusItem, countLines, parseCorpusLine, readCorpus, ReadCorpusOptions, stableEventId } from './corpus-reader';
import { intakeLimits, produceCorpus } from './corpus-source';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'corpus-reader-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(p: string, opts?: ReadCorpusOptions): Promise<CorpusItem[]> {
  const items: CorpusItem[] = [];
  for await (const item of readCorpus(p, opts)) items.push(item);
  return items;
}

const jsonl = (...lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

describe('readCorpus', () => {
  it('reads good lines, resolving relative images against the corpus file and keeping URLs', async () => {
    const sub = path.join(dir, 'sub');
    await mkdir(sub);
    const file = path.join(sub, 'c.jsonl');
    await writeFile(
      file,
      jsonl(
        { id: 'a1', image: 'images/x.png', question: 'Is it red?', phrases: ['red circle'], metadata: { src: 'unit' } },
        { image: 'https://example.com/y.jpg', question: 'Where is the dog?', program: '<answer>\nboxes = gd_detect(img, "dog")\n</answer>' },
        { image: { bytes_b64: Buffer.from('pngbytes').toString('base64') }, question: 'What?' },
        { image: '/abs/z.png', question: 'Q?', extra: 'ignored' },
      ),
    );
    const items = await collect(file);
    expect(items.map((i) => i.ok)).toEqual([true, true, true, true]);
    const events = items.map((i) => (i.ok ? i.event : null))!;

    expect(events[0]).toEqual({
      id: 'a1',
      imageUri: path.join(sub, 'images', 'x.png'),
      imageBytes: null,
      question: 'Is it red?',
      phrases: ['red circle'],
      program: null,
      metadata: { src: 'unit' },
    });
    expect(events[1]!.imageUri).toBe('https://example.com/y.jpg');
    expect(events[1]!.phrases).toEqual([]);
    expect(events[1]!.program).toContain('gd_detect');
    expect(events[2]!.imageUri).toBeNull();
    expect(events[2]!.imageBytes!.toString()).toBe('pngbytes');
    expect(events[3]!.imageUri).toBe(path.resolve('/abs/z.png'));
    expect(items.every((i) => i.file === file)).toBe(true);
    expect(items.map((i) => i.line)).toEqual([1, 2, 3, 4]);
  });

  it('resolves a relative corpus path and relative images to absolute paths', async () => {
    await writeFile(path.join(dir, 'c.jsonl'), jsonl({ image: '../pics/a.png', question: 'Q?' }));
    const rel = path.relative(process.cwd(), path.join(dir, 'c.jsonl'));
    const [item] = await collect(rel);
    expect(item.ok && item.event.imageUri).toBe(path.resolve(dir, '..', 'pics', 'a.png'));
    expect(path.isAbsolute(item.file)).toBe(true);
  });

  it('yields bad lines as errors naming file, line and field, and carries on', async () => {
    const file = path.join(dir, 'bad.jsonl');
    await writeFile(
      file,
      jsonl(
        { image: 'a.png', question: 'ok 1' },
        '{"image": "a.png", "question": ', // invalid JSON
        { image: 'a.png' }, // missing question
        { image: 'a.png', question: 'Q?', phrases: 'red circle' }, // phrases not an array
        { image: 'a.png', question: 'Q?', phrases: ['ok', 3] }, // bad element
        { image: 's3://bucket/a.png', question: 'Q?' },
        { image: { bytes_b64: '***' }, question: 'Q?' },
        { image: 'a.png', question: 'Q?', metadata: { n: 1 } },
        [1, 2],
        { id: '\u0000x', image: 'a.png', question: 'Q?' }, // id (a record key) starting with a zero byte
        { image: 'a.png', question: 'ok 2' },
      ),
    );
    const items = await collect(file);
    expect(items).toHaveLength(11);
    expect(items[0].ok).toBe(true);
    expect(items[10].ok).toBe(true);
    const errors = items.filter((i): i is Extract<CorpusItem, { ok: false }> => !i.ok);
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const e of errors) {
      expect(e.file).toBe(file);
      expect(e.error).toContain(`${file}:${e.line}:`);
    }
    const byLine = new Map(errors.map((e) => [e.line, e]));
    expect(byLine.get(2)!.error).toMatch(/invalid JSON/);
    expect(byLine.get(2)!.raw).toBe('{"image": "a.png", "question": ');
    expect(byLine.get(3)!.error).toMatch(/: question: required/);
    expect(byLine.get(4)!.error).toMatch(/: phrases: .*array/);
    expect(byLine.get(5)!.error).toMatch(/: phrases\.1: /);
    expect(byLine.get(6)!.error).toMatch(/: image: /);
    expect(byLine.get(7)!.error).toMatch(/: image/);
    expect(byLine.get(8)!.error).toMatch(/: metadata\.n: /);
    expect(byLine.get(9)!.error).toMatch(/\(line\)/);
    expect(byLine.get(10)!.error).toMatch(/: id: id must not start with a zero byte/);
  });

  it('skips blank lines but keeps counting them, and copes with CRLF and a BOM', async () => {
    const file = path.join(dir, 'crlf.jsonl');
    await writeFile(
      file,
      '\ufeff' + JSON.stringify({ image: 'a.png', question: 'one' }) + '\r\n\r\n  \r\n' + JSON.stringify({ image: 'b.png', question: 'two' }),
    );
    const items = await collect(file);
    expect(items.map((i) => [i.ok, i.line])).toEqual([
      [true, 1],
      [true, 4],
    ]);
    expect(items[1].ok && items[1].event.question).toBe('two');
  });

  it('gives stable ids from file basename and line when none is given', async () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    await mkdir(a);
    await mkdir(b);
    const content = jsonl({ image: 'x.png', question: 'Q1?' }, { image: 'x.png', question: 'Q2?' });
    await writeFile(path.join(a, 'same.jsonl'), content);
    await writeFile(path.join(b, 'same.jsonl'), content);

    const ids = async (p: string) => (await collect(p)).map((i) => (i.ok ? i.event.id : ''));
    const first = await ids(path.join(a, 'same.jsonl'));
    expect(await ids(path.join(a, 'same.jsonl'))).toEqual(first);
    // Same basename and line -> same id, whatever directory the file sits in.
    expect(await ids(path.join(b, 'same.jsonl'))).toEqual(first);
    expect(first[0]).not.toBe(first[1]);
    expect(first[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(first[0]).toBe(createHash('sha256').update('same.jsonl:1').digest('hex').slice(0, 16));
    expect(stableEventId('/else/where/same.jsonl', 2)).toBe(first[1]);
  });

  it('reads a directory of *.jsonl files in name order, ignoring other files', async () => {
    await writeFile(path.join(dir, 'b.jsonl'), jsonl({ id: 'b1', image: 'i.png', question: 'Q?' }));
    await writeFile(path.join(dir, 'a.jsonl'), jsonl({ id: 'a1', image: 'i.png', question: 'Q?' }, { id: 'a2', image: 'i.png', question: 'Q?' }));
    await writeFile(path.join(dir, 'notes.txt'), 'not a corpus\n');
    await mkdir(path.join(dir, 'nested.jsonl'));
    const items = await collect(dir, { corpusName: 'unit' });
    expect(items.map((i) => (i.ok ? i.event.id : i.error))).toEqual(['a1', 'a2', 'b1']);
    expect(items.map((i) => path.basename(i.file))).toEqual(['a.jsonl', 'a.jsonl', 'b.jsonl']);
    expect(items.map((i) => i.line)).toEqual([1, 2, 1]);
    expect(items[0].ok && items[0].event.imageUri).toBe(path.join(dir, 'i.png'));
    expect(items[0].ok && items[0].event.metadata).toEqual({ corpus: 'unit' });
  });

  it('keeps a line’s own metadata.corpus over corpusName', () => {
    const item = parseCorpusLine(JSON.stringify({ image: 'a.png', question: 'Q?', metadata: { corpus: 'own' } }), '/c/x.jsonl', 1, { corpusName: 'other' });
    expect(item!.ok && item!.event.metadata.corpus).toBe('own');
  });

  it('rejects a missing path or an empty directory as a configuration error', async () => {
    await expect(collect(path.join(dir, 'nope.jsonl'))).rejects.toThrow(/cannot read/);
    await expect(collect(dir)).rejects.toThrow(/no \*\.jsonl files/);
  });

  it('stops cleanly when the consumer breaks early', async () => {
    const file = path.join(dir, 'many.jsonl');
    await writeFile(file, jsonl(...Array.from({ length: 1000 }, (_, i) => ({ image: 'a.png', question: `Q${i}?` }))));
    let n = 0;
    for await (const item of readCorpus(file)) {
      expect(item.ok).toBe(true);
      if (++n === 3) break;
    }
    expect(n).toBe(3);
    // A fresh read starts from the top again.
    const again = await collect(file);
    expect(again).toHaveLength(1000);
  });
});

describe('text limits at intake', () => {
  // Written as a JSON writer would: the escapes \u0000 and \ud800 are ASCII in the file,
  // and JSON.parse turns them into a NUL and a lone surrogate.
  const lines = [
    '{"image": "a.png", "question": "0123456789abcdef\\u0000 trailing"}',
    '{"image": "a.png", "question": "Q?", "phrases": ["cat", "dog", "ab\\ud800c"]}',
    '{"image": "a.png", "question": "Q?", "program": "gd_detect(img, \\"x\\")\\udc00"}',
    JSON.stringify({ image: 'a.png', question: 'x'.repeat(5123) }),
    JSON.stringify({ image: 'a.png', question: 'Q?', phrases: Array.from({ length: 65 }, (_, i) => `p${i}`) }),
    JSON.stringify({ image: 'a.png', question: 'Where is the 🐶?', phrases: ['🐶'] }),
  ];

  it('turns NULs, unpaired surrogates and overlong text into error items naming file, line, field and position', async () => {
    const file = path.join(dir, 'text.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    expect(lines[0]).not.toContain('\u0000'); // the file holds the escape, not the character
    const items = await collect(file);
    expect(items.map((i) => i.ok)).toEqual([false, false, false, false, false, true]);
    const errors = items.map((i) => (i.ok ? null : i.error));
    expect(errors[0]).toBe(`${file}:1: question: NUL character at position 16`);
    expect(errors[1]).toBe(`${file}:2: phrases[2]: unpaired surrogate U+D800 at position 2`);
    expect(errors[2]).toBe(`${file}:3: program: unpaired surrogate U+DC00 at position 19`);
    expect(errors[3]).toBe(`${file}:4: question: 5123 characters, more than the limit of 4000 (limits.maxQuestionChars)`);
    expect(errors[4]).toBe(`${file}:5: phrases: 65 phrases, more than the limit of 64 (limits.maxPhrases)`);
    expect(items[5].ok && items[5].event.phrases).toEqual(['🐶']);
  });

  it('takes the limits and their config key from the options', () => {
    const opts = { limits: { ...DEFAULT_TEXT_LIMITS, maxQuestionChars: 6000 }, limitsKey: 'nodes.plan.limits' };
    expect(parseCorpusLine(lines[3]!, '/c/x.jsonl', 4, opts)!.ok).toBe(true);
    const tight = { limits: { ...DEFAULT_TEXT_LIMITS, maxPhraseChars: 2 }, limitsKey: 'nodes.plan.limits' };
    const item = parseCorpusLine(lines[5]!, '/c/x.jsonl', 6, tight);
    expect(item!.ok).toBe(true); // the emoji is one character
    const long = parseCorpusLine(JSON.stringify({ image: 'a.png', question: 'Q?', phrases: ['red'] }), '/c/x.jsonl', 7, tight);
    expect(!long!.ok && long!.error).toBe('/c/x.jsonl:7: phrases[0]: 3 characters, more than the limit of 2 (nodes.plan.limits.maxPhraseChars)');
  });

  it('produceCorpus dead-letters those lines with file, line and raw text, and writes the rest', async () => {
    const file = path.join(dir, 'text.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const written: Record<string, Array<{ key: string | null; value: unknown }>> = {};
    const writer = {
      write: async <T>(topic: string, records: Array<{ key: string | null; value: T }>) => void (written[topic] ??= []).push(...records),
      close: async () => undefined,
    };
    const r = await produceCorpus(file, writer, { imageQueries: 'iq', deadLetters: 'dl' });
    expect(r).toEqual({ produced: 1, deadLettered: 5 });
    const dls = written.dl!.map((x) => x.value as DeadLetter);
    expect(dls.map((d) => d.source.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(dls[0]).toMatchObject({ node: 'corpus-source', errorClass: 'ValidationError', retriable: false, source: { topic: `file:${file}` } });
    expect(dls[0]!.reason).toBe(`${file}:1: question: NUL character at position 16`);
    expect(dls[1]!.payload!.toString('utf8')).toBe(lines[1]);
    expect(written.dl!.map((x) => x.key)).toEqual([1, 2, 3, 4, 5].map((n) => `${file}:${n}`));
  });

  it('intakeLimits gives the limits of the node reading the corpus topic', () => {
    expect(intakeLimits(valorTopology({ nodeConfig: { plan: { limits: { maxQuestionChars: 9000 } } } }))).toEqual({
      limits: { ...DEFAULT_TEXT_LIMITS, maxQuestionChars: 9000 },
      limitsKey: 'nodes.plan.limits',
    });
    expect(intakeLimits(valorTopology({}))).toEqual({ limits: DEFAULT_TEXT_LIMITS, limitsKey: 'nodes.plan.limits' });
    expect(intakeLimits(passthroughTopology({ config: { limits: { maxPhrases: 3 } } })).limits.maxPhrases).toBe(3);
  });
});

describe('countLines', () => {
  it('counts lines in a file, with or without a trailing newline', async () => {
    await writeFile(path.join(dir, 'a.jsonl'), 'x\ny\nz\n');
    await writeFile(path.join(dir, 'b.jsonl'), 'x\ny');
    await writeFile(path.join(dir, 'c.jsonl'), '');
    expect(await countLines(path.join(dir, 'a.jsonl'))).toBe(3);
    expect(await countLines(path.join(dir, 'b.jsonl'))).toBe(2);
    expect(await countLines(path.join(dir, 'c.jsonl'))).toBe(0);
    expect(await countLines(dir)).toBe(5);
  });

  it('counts across read-chunk boundaries', async () => {
    const line = JSON.stringify({ image: 'a.png', question: 'x'.repeat(300) });
    const n = 5000; // ~1.6 MB: more than one 1 MiB chunk
    await writeFile(path.join(dir, 'big.jsonl'), (line + '\n').repeat(n));
    expect(await countLines(path.join(dir, 'big.jsonl'))).toBe(n);
  });
});

import { firstValueFrom, from, toArray } from 'rxjs';
import type { ProcessorContext } from '../core/processor';
import { testProcessorContext } from '../test/harness/processor-context';
import type { ImageQuery } from '../schemas/generated/types';
import { imageQuery } from '../test/fixtures/records';
import { checkImageQuery, passthrough, passthroughConfig } from './passthrough';

const ctx: ProcessorContext = testProcessorContext('p');
const rec = (v: ImageQuery, offset: number) => ({ key: v.id, value: v, origin: { topic: 't', partition: 0, offset: String(offset) }, timestamp: 0 });

describe('passthrough processor', () => {
  it('forwards valid queries unchanged with their key and fails invalid ones', async () => {
    const op = passthrough.create(passthroughConfig.parse({}), ctx);
    const bad = { ...imageQuery(2), image: { ...imageQuery(2).image, uri: null } };
    const outcomes = await firstValueFrom(from([rec(imageQuery(1), 0), rec(bad, 1)]).pipe(op, toArray()));
    expect(outcomes).toHaveLength(2);
    const ok = outcomes.find((o) => o.input.origin.offset === '0')!;
    expect(ok.outputs).toEqual([{ port: 'out', key: 'q-000001', value: imageQuery(1) }]);
    const failed = outcomes.find((o) => o.input.origin.offset === '1')!;
    expect(failed.outputs).toEqual([]);
    expect(String(failed.failure?.error)).toMatch(/image has neither uri nor bytes/);
    expect(failed.failure?.attempts).toBe(1); // validation errors are not retried
  });

  it('lists every problem of a query at once', () => {
    expect(() => checkImageQuery({ ...imageQuery(1), id: ' ', question: '', phrases: ['a', ' '] })).toThrow(
      /id is empty; question is empty; phrases contains an empty phrase/,
    );
  });

  it('refuses NULs, unpaired surrogates and text over its configured limits, naming field and position', async () => {
    const config = passthroughConfig.parse({ limits: { maxQuestionChars: 100, maxPhrases: 2 } });
    expect(config.limits).toEqual({ maxQuestionChars: 100, maxPhraseChars: 256, maxPhrases: 2, maxProgramChars: 32768 });
    const op = passthrough.create(config, ctx);
    const queries = [
      { ...imageQuery(1), question: 'Is it red?\u0000' },
      { ...imageQuery(2), phrases: ['red circle', '\ud800'] },
      { ...imageQuery(3), question: 'q'.repeat(101) },
      { ...imageQuery(4), phrases: ['a', 'b', 'c'] },
      { ...imageQuery(5), question: 'Is the 🐶 red?', program: '<answer>gd_detect(img, "🐶")</answer>' },
    ];
    const outcomes = await firstValueFrom(from(queries.map((q, i) => rec(q, i))).pipe(op, toArray()));
    const byOffset = new Map(outcomes.map((o) => [o.input.origin.offset, o]));
    const reason = (offset: string) => String(byOffset.get(offset)!.failure?.error);
    expect(reason('0')).toBe("ValidationError: image query 'q-000001': question: NUL character at position 10");
    expect(reason('1')).toBe("ValidationError: image query 'q-000002': phrases[1]: unpaired surrogate U+D800 at position 0");
    expect(reason('2')).toMatch(/question: 101 characters, more than the limit of 100 \(nodes\.p\.limits\.maxQuestionChars\)$/);
    expect(reason('3')).toMatch(/phrases: 3 phrases, more than the limit of 2 \(nodes\.p\.limits\.maxPhrases\)$/);
    expect(byOffset.get('4')!.failure).toBeUndefined();
    expect(byOffset.get('4')!.outputs).toHaveLength(1);
    for (const o of ['0', '1', '2', '3']) expect(byOffset.get(o)!.failure?.attempts).toBe(1);
  });

  it('checks with the default limits when given none', () => {
    expect(() => checkImageQuery({ ...imageQuery(1), question: 'x'.repeat(4001) })).toThrow(
      /question: 4001 characters, more than the limit of 4000 \(limits\.maxQuestionChars\)/,
    );
    expect(() => checkImageQuery({ ...imageQuery(1), question: 'x'.repeat(4000) })).not.toThrow();
  });
});

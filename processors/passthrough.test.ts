import { firstValueFrom, from, queueScheduler, toArray } from 'rxjs';
import { systemClock } from '../core/clock';
import { silentLogger } from '../core/logger';
import type { ProcessorContext } from '../core/processor';
import { MemoryStoreProvider } from '../core/store';
import { ChangelogState } from '../core/keyed-state';
import { Resources } from '../core/resources';
import { SimpleFlowControl } from '../runtime/node-worker';
import type { ImageQuery } from '../schemas/generated/types';
import { imageQuery } from '../test/fixtures/records';
import { checkImageQuery, passthrough, passthroughConfig } from './passthrough';

const ctx: ProcessorContext = {
  node: 'p',
  logger: silentLogger,
  clock: systemClock,
  scheduler: queueScheduler,
  flow: new SimpleFlowControl(),
  signal: new AbortController().signal,
  stores: new MemoryStoreProvider(),
  state: new ChangelogState(),
  schedule: () => undefined,
  resources: new Resources(),
  onClose: () => undefined,
};
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
});

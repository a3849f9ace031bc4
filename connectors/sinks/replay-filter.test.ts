import { withReplayTag } from '../../core/lineage';
import type { SinkFormat } from './partition-sink';
import { replayFiltered, selectsRecord } from './replay-filter';

const rec = (id: string) => ({ id, lineage: { parents: [], producedBy: 'verify', producerVersion: '1', versions: { v: '1' }, source: null } });

describe('replay selection in sinks', () => {
  const live = rec('a');
  const replayed = withReplayTag(rec('b'), 'prompts-v2');

  it('the tag goes into lineage.versions and nowhere else', () => {
    expect(replayed.lineage.versions).toEqual({ v: '1', 'replay.tag': 'prompts-v2' });
    expect(live.lineage.versions).toEqual({ v: '1' });
    expect(withReplayTag({ id: 'no lineage' }, 't')).toEqual({ id: 'no lineage' });
  });

  it('selects live records by default, one replay by tag, or all', () => {
    expect([selectsRecord(null, live), selectsRecord(null, replayed)]).toEqual([true, false]);
    expect([selectsRecord('prompts-v2', live), selectsRecord('prompts-v2', replayed)]).toEqual([false, true]);
    expect([selectsRecord('all', live), selectsRecord('all', replayed)]).toEqual([true, true]);
  });

  it('a filtered format skips (null) what it does not select and formats the rest', async () => {
    const inner: SinkFormat<unknown> = { name: 'x', format: async (v) => ({ line: JSON.stringify(v) }) };
    const f = replayFiltered(inner, 'prompts-v2');
    const at = { topic: 't', partition: 0, offset: '0' };
    expect(await f.format(live, at)).toBeNull();
    expect(await f.format(replayed, at)).toEqual({ line: JSON.stringify(replayed) });
    expect(replayFiltered(inner, 'all')).toBe(inner);
  });
});

import type { KafkaMessage } from 'kafkajs';
import { ReplayBounds, replayGroupId } from './replay-bounds';
import { parseReplayFrom } from '../../cli/commands/replay';

const msg = (offset: number) => ({ offset: String(offset) }) as KafkaMessage;

describe('ReplayBounds', () => {
  const range = () => ({
    starts: new Map([
      [0, 10n],
      [1, 5n],
      [2, 7n],
    ]),
    ends: new Map([
      [0, 20n],
      [1, 9n],
      [2, 7n],
    ]),
  });

  it('clips records at or past a partition end and says the end was passed', () => {
    const b = new ReplayBounds('t', 'in', range());
    expect(b.clip(1, [msg(7), msg(8), msg(9), msg(10)])).toEqual({ inside: [msg(7), msg(8)], pastEnd: true });
    expect(b.clip(0, [msg(10), msg(11)])).toEqual({ inside: [msg(10), msg(11)], pastEnd: false });
    expect(b.clip(3, [msg(0)]).inside).toEqual([]); // a partition outside the range
  });

  it('is finished once every partition reached its end (an empty range at once; markers count)', async () => {
    const b = new ReplayBounds('t', 'in', range());
    expect(b.finished).toBe(false);
    const done = b.untilFinished();
    b.advance(0, 20n);
    b.batchDone({ partition: 1, lastOffset: () => '7' });
    expect(b.finished).toBe(false);
    b.endReached(1); // a record past the end was fetched
    await done;
    expect(b.progress()).toEqual([
      { partition: 0, start: 10n, at: 20n, end: 20n },
      { partition: 1, start: 5n, at: 9n, end: 9n },
      { partition: 2, start: 7n, at: 7n, end: 7n },
    ]);
    expect(new ReplayBounds('t', 'in', { starts: new Map([[0, 3n]]), ends: new Map([[0, 3n]]) }).finished).toBe(true);
  });

  it('names its own group, never the live one', () => {
    expect(replayGroupId('valor', 'verify', 'prompts-v2')).toBe('valor.verify.replay.prompts-v2');
  });

  it('parses --from as a time or partition:offset pairs, naming what is wrong', () => {
    expect(parseReplayFrom('2026-12-01T10:00:00Z')).toEqual({ kind: 'time', ms: Date.UTC(2026, 11, 1, 10) });
    expect(parseReplayFrom('0:12, 1:40')).toEqual({
      kind: 'offsets',
      offsets: new Map([
        [0, 12n],
        [1, 40n],
      ]),
    });
    expect(() => parseReplayFrom('yesterday')).toThrow(/'yesterday' is not an ISO time/);
  });
});

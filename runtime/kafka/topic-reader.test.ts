import { parseOffsets, parseTime } from './topic-reader';

describe('topic reader positions', () => {
  it('parses partition:offset lists and names a bad part', () => {
    expect(parseOffsets('0:12, 3:0')).toEqual(
      new Map([
        [0, 12n],
        [3, 0n],
      ]),
    );
    expect(() => parseOffsets('0:12,x')).toThrow(/'x' is not partition:offset/);
    expect(() => parseOffsets(' , ')).toThrow(/no partition:offset/);
  });

  it('parses ISO times and names a bad one', () => {
    expect(parseTime('2026-12-01T10:00:00Z')).toBe(Date.UTC(2026, 11, 1, 10));
    expect(() => parseTime('yesterday')).toThrow(/'yesterday' is not an ISO time/);
  });
});

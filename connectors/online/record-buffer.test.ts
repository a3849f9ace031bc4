import { RecordBuffer, type BufferItem } from './record-buffer';

const rec = (partition: number, offset: number): BufferItem<string> => ({
  kind: 'record',
  partition,
  offset: String(offset),
  record: `${partition}@${offset}`,
});
const skip = (partition: number, offset: number): BufferItem<string> => ({ kind: 'skip', partition, offset: String(offset) });

describe('RecordBuffer', () => {
  it('takes batches by record count, with the skips among and before them', () => {
    const b = new RecordBuffer<string>();
    for (const it of [skip(0, 0), rec(0, 1), skip(1, 0), rec(1, 1), rec(0, 2)]) b.push(it);
    expect(b.records).toBe(3);
    expect(b.take(2)).toEqual([skip(0, 0), rec(0, 1), skip(1, 0), rec(1, 1)]);
    expect(b.records).toBe(1);
    expect(b.take(5)).toEqual([rec(0, 2)]);
    expect(b.length).toBe(0);
  });

  it('keeps one trailing skip per partition, the highest, so a filtered run stays small', () => {
    const b = new RecordBuffer<string>();
    b.push(rec(0, 0));
    for (let o = 1; o < 100; o++) {
      b.push(skip(0, o));
      b.push(skip(1, o));
    }
    expect(b.length).toBe(3);
    expect(b.takeAll()).toEqual([rec(0, 0), skip(0, 99), skip(1, 99)]);
    // A skip before a record is not merged with one after it: the record sits between them.
    b.push(skip(0, 100));
    b.push(rec(0, 101));
    b.push(skip(0, 102));
    expect(b.length).toBe(3);
  });

  it('drops everything on clear and says how many records it dropped', () => {
    const b = new RecordBuffer<string>();
    b.push(rec(0, 0));
    b.push(skip(0, 1));
    b.push(rec(0, 2));
    expect(b.clear()).toBe(2);
    expect([b.records, b.length]).toEqual([0, 0]);
  });
});

import { base64AsBytes, bytesAsBase64 } from './json-bytes';

describe('bytes through JSON', () => {
  it('writes Buffers as { base64 } and reads them back as Buffers, leaving other objects alone', () => {
    const value = { id: 'p1', image: { uri: null, bytes: Buffer.from([0, 1, 254, 255]) }, boxes: [{ x1: 1 }], meta: { base64: 'x', other: 1 } };
    const json = JSON.stringify(value, bytesAsBase64);
    expect(json).toContain('"bytes":{"base64":"AAH+/w=="}');
    const back = JSON.parse(json, base64AsBytes) as typeof value;
    expect(Buffer.isBuffer(back.image.bytes)).toBe(true);
    expect([...back.image.bytes]).toEqual([0, 1, 254, 255]);
    expect(back.meta).toEqual({ base64: 'x', other: 1 });
    expect(back.boxes).toEqual([{ x1: 1 }]);
  });
});

import { SeededRng } from './fake-faults';
import { imagePatches, imageTokenMultiplier, imageTokens, MAX_PATCHES, modelAlias } from './image-tokens';

describe("OpenAI's image token rule for patch-based models", () => {
  it('1024x1024 is 32x32 = 1024 patches; gpt-5-mini bills ceil(1024 x 1.62) = 1659', () => {
    expect(imagePatches(1024, 1024)).toEqual({ patches: 1024, width: 1024, height: 1024 });
    expect(imageTokens(1024, 1024, 'gpt-5-mini')).toBe(1659);
    expect(imageTokens(1024, 1024, 'gpt-5-mini-2025-08-07')).toBe(1659);
    expect(imageTokens(1024, 1024, 'gpt-5-nano')).toBe(2520); // 2519.04
    expect(imageTokens(1024, 1024, 'gpt-4.1-nano')).toBe(2520);
    expect(imageTokens(1024, 1024, 'gpt-4.1-mini')).toBe(1659);
    expect(imageTokens(1024, 1024, 'o4-mini')).toBe(1762); // 1761.28
    expect(imageTokens(1024, 1024, 'gpt-4o')).toBe(1024);
    expect(imageTokens(1024, 1024, 'gemini-2.5-flash')).toBe(1024);
  });

  it('the documented 1800x2400 example shrinks to 1056x1408: 33 x 44 = 1452 patches', () => {
    // Raw: 57 x 75 = 4275 patches. r = sqrt(1536·32²/(1800·2400)) = 0.603 gives 33.94 x 45.25
    // patches; scaling again by 33/33.94 fits the width in 33 patches.
    const p = imagePatches(1800, 2400);
    expect(p.patches).toBe(1452);
    expect(p.width).toBeCloseTo(1056, 6);
    expect(p.height).toBeCloseTo(1408, 6);
    expect(imageTokens(1800, 2400, 'gpt-5-mini')).toBe(Math.ceil(1452 * 1.62)); // 2352.24 -> 2353
    expect(imageTokens(1800, 2400, 'gpt-4o')).toBe(1452);
  });

  it('small images: 100x50 is 4 x 2 = 8 patches, 13 tokens on gpt-5-mini', () => {
    expect(imagePatches(100, 50).patches).toBe(8);
    expect(imageTokens(100, 50, 'gpt-5-mini')).toBe(13); // 12.96
    expect(imagePatches(1, 1).patches).toBe(1);
    expect(imagePatches(0, 10).patches).toBe(0);
  });

  it('a product that is a whole number in exact arithmetic does not round up a token', () => {
    // 320x320 = 100 patches; 100 * 1.62 is 162.00000000000003 in floating point.
    expect(imageTokens(320, 320, 'gpt-5-mini')).toBe(162);
    // 1024x1536 is exactly 32 x 48 = 1536 patches: at the limit, not shrunk.
    expect(imagePatches(1024, 1536)).toEqual({ patches: 1536, width: 1024, height: 1536 });
    // One pixel more needs 33 x 48 = 1584 patches, so it shrinks.
    expect(imagePatches(1025, 1536).patches).toBeLessThanOrEqual(MAX_PATCHES);
  });

  it('never exceeds 1536 patches and never grows an image, whatever its size and aspect', () => {
    const rng = new SeededRng(11);
    const sizes: Array<[number, number]> = [
      [100_000, 10],
      [10, 100_000],
      [4096, 4096],
      [1537 * 32, 32],
      [1280, 1281],
    ];
    for (let i = 0; i < 3000; i++) sizes.push([1 + Math.floor(rng.next() * 6000), 1 + Math.floor(rng.next() * 6000)]);
    for (const [w, h] of sizes) {
      const raw = Math.ceil(w / 32) * Math.ceil(h / 32);
      const p = imagePatches(w, h);
      expect(p.patches).toBeLessThanOrEqual(Math.min(raw, MAX_PATCHES));
      expect(p.patches).toBeGreaterThan(0);
      if (raw <= MAX_PATCHES) expect(p.patches).toBe(raw);
      // A shrunk image keeps its aspect ratio and is not cut to a sliver of the budget.
      if (raw > MAX_PATCHES && w < 20 * h && h < 20 * w) {
        expect(p.width / p.height).toBeCloseTo(w / h, 6);
        expect(p.patches).toBeGreaterThan(MAX_PATCHES * 0.8);
      }
    }
  });

  it('maps dated snapshots to their alias and unknown models to 1', () => {
    expect(modelAlias('gpt-4.1-mini-2025-04-14')).toBe('gpt-4.1-mini');
    expect(modelAlias('gpt-4.1')).toBe('gpt-4.1');
    expect(imageTokenMultiplier('o4-mini-2025-04-16')).toBe(1.72);
    expect(imageTokenMultiplier('gpt-4.1')).toBe(1);
    expect(imageTokenMultiplier('fake')).toBe(1);
  });
});

import { postprocess, PostprocessInput } from './postprocess';

// Crafted logits: 3 queries x 6 token positions; ids for "[CLS] red - circle . [SEP]".
const ids = [2, 11, 7, 12, 5, 3];
const words: Record<number, string> = { 11: 'red', 7: '-', 12: 'circle', 5: '.', 3: '[SEP]' };
const logit = (p: number) => Math.log(p / (1 - p)); // inverse sigmoid

function input(rows: number[][], over: Partial<PostprocessInput> = {}): PostprocessInput {
  return {
    logits: Float32Array.from(rows.flat().map(logit)),
    boxes: Float32Array.from([0.5, 0.5, 0.2, 0.4, 0.25, 0.25, 0.1, 0.1, 0.9, 0.9, 0.2, 0.2]),
    numQueries: rows.length,
    logitWidth: 6,
    ids,
    boxThreshold: 0.35,
    textThreshold: 0.25,
    parts: ['red-circle'],
    labels: ['red circle'],
    decode: (xs) => xs.map((x) => words[x]).join(' '),
    width: 200,
    height: 100,
    ...over,
  };
}

const LOW = 0.01;

describe('GroundingDINO post-processing', () => {
  it('keeps a query whose phrase equals a prompt part, with absolute xyxy', () => {
    const out = postprocess(input([[LOW, 0.9, 0.8, 0.7, LOW, LOW]]));
    expect(out).toHaveLength(1);
    expect(out[0]!.label).toBe('red circle');
    expect([out[0]!.x1, out[0]!.y1, out[0]!.x2, out[0]!.y2].map((v) => Math.round(v * 1000) / 1000)).toEqual([80, 30, 120, 70]);
    expect(out[0]!.score).toBeCloseTo(0.9, 5);
  });

  it('applies the box threshold strictly on the best token score', () => {
    expect(postprocess(input([[LOW, 0.35, 0.35, 0.35, LOW, LOW]]))).toHaveLength(0);
    expect(postprocess(input([[LOW, 0.351, 0.351, 0.351, LOW, LOW]]))).toHaveLength(1);
  });

  it('builds the phrase from tokens over the text threshold and drops partial phrases', () => {
    // "circle" under the text threshold -> phrase "red -" -> not a prompt part
    expect(postprocess(input([[LOW, 0.9, 0.8, 0.2, LOW, LOW]]))).toHaveLength(0);
    // "." joins the phrase -> "red - circle ." -> dropped
    expect(postprocess(input([[LOW, 0.9, 0.8, 0.7, 0.6, LOW]]))).toHaveLength(0);
    // with a low text threshold the same query now includes [SEP]
    expect(postprocess(input([[LOW, 0.9, 0.8, 0.7, LOW, LOW]], { textThreshold: 0.001 }))).toHaveLength(0);
  });

  it("never puts [CLS] in a phrase and reads only the item's own tokens", () => {
    // a high [CLS] score counts for the box score but not for the phrase
    const out = postprocess(input([[0.99, 0.9, 0.8, 0.7, LOW, LOW]]));
    expect(out).toHaveLength(1);
    expect(out[0]!.score).toBeCloseTo(0.99, 5);
    // positions beyond the item's tokens (batch padding) are ignored
    const padded = input([[LOW, 0.9, 0.8, 0.7, LOW, LOW, 0.99, 0.99]], { logitWidth: 8 });
    expect(postprocess(padded)).toHaveLength(1);
  });

  it('handles several queries, keeping each match', () => {
    const out = postprocess(
      input([
        [LOW, 0.9, 0.8, 0.7, LOW, LOW],
        [LOW, LOW, LOW, LOW, LOW, LOW],
        [LOW, 0.5, 0.5, 0.5, LOW, LOW],
      ]),
    );
    expect(out.map((b) => Math.round(b.x1))).toEqual([80, 160]);
  });
});

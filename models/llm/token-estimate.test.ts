import type { CompletionRequest } from './provider';
import { estimateTokens } from './token-estimate';

describe('estimateTokens', () => {
  it('estimates text, schema, images (32 px patches, capped) and the output allowance', () => {
    const schema = { type: 'object' };
    const r: CompletionRequest = {
      instructions: 'i'.repeat(40),
      parts: [
        { type: 'text', text: 't'.repeat(400) },
        { type: 'image', data: Buffer.alloc(0), mediaType: 'image/png', width: 640, height: 480 },
        { type: 'image', data: Buffer.alloc(0), mediaType: 'image/png', width: 4000, height: 4000 },
      ],
      output: { name: 's', schema },
    };
    const text = Math.ceil((40 + 400 + JSON.stringify(schema).length) / 4);
    expect(estimateTokens(r)).toBe(text + 20 * 15 + 1536 + 1024);
    expect(estimateTokens({ ...r, maxOutputTokens: 10 }, 999)).toBe(text + 300 + 1536 + 10);
  });
});

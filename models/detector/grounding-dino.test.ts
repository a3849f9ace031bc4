import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../core/errors';
import { detectLayout, GroundingDino, LAYOUTS } from './grounding-dino';
import { writeTestDetector } from './test-model';

describe('GroundingDINO layout detection', () => {
  it('recognises both exports by their input names, in any order', () => {
    expect(detectLayout([...LAYOUTS.original.inputs].reverse(), ['boxes', 'logits'])).toBe('original');
    expect(detectLayout(LAYOUTS.huggingface.inputs, ['logits', 'pred_boxes'])).toBe('huggingface');
  });

  it('refuses an unknown layout, listing the names found and expected', () => {
    const err = (() => {
      try {
        detectLayout(['image', 'text'], ['out']);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toMatch(/model inputs are \[image, text\]/);
    expect(err!.message).toMatch(/img, input_ids, attention_mask, position_ids, token_type_ids, text_token_mask/);
    expect(err!.message).toMatch(/pixel_values, input_ids, token_type_ids, attention_mask, pixel_mask/);
  });

  it('refuses a known input set with a missing output', () => {
    expect(() => detectLayout(LAYOUTS.huggingface.inputs, ['logits', 'boxes'])).toThrow(/needs output 'pred_boxes'/);
  });

  it('loads a model file, reports its sha256 and layout', async () => {
    const m = writeTestDetector(fs.mkdtempSync(path.join(os.tmpdir(), 'gd-')));
    const det = await GroundingDino.load({
      modelPath: m.huggingface,
      tokenizerPath: m.vocabTxt,
      boxThreshold: 0.1,
      textThreshold: 0.1,
      batchSize: 2,
      maxTextLen: 256,
    });
    expect(det.layout).toBe('huggingface');
    expect(det.modelSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the config field of a missing model or tokenizer file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gd-'));
    const m = writeTestDetector(dir);
    const opts = { modelPath: m.huggingface, tokenizerPath: m.vocabTxt, boxThreshold: 0.1, textThreshold: 0.1, batchSize: 1, maxTextLen: 256 };
    const missing = path.join(dir, 'no-tokenizer.json');
    await expect(GroundingDino.load({ ...opts, tokenizerPath: missing })).rejects.toThrow(ConfigError);
    await expect(GroundingDino.load({ ...opts, tokenizerPath: missing })).rejects.toThrow(`cannot read tokenizer ${missing} (nodes.detect.tokenizerPath)`);
    await expect(GroundingDino.load({ ...opts, modelPath: path.join(dir, 'no-model.onnx') })).rejects.toThrow(/\(nodes\.detect\.modelPath\)/);
  });
});

// What a run needs from outside, listed at once with the field and the fix: model files and
// keys of the nodes that will run, the answer node's tools included.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from './config';
import { missingPrerequisites } from './prerequisites';

describe('missing prerequisites', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prereq-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const config = (nodes: Record<string, unknown>) => loadConfig({ env: {}, overrides: [[['nodes'], nodes]] });

  it('names every missing model file and key of the mining nodes at once', () => {
    const missing = missingPrerequisites(config({ detect: { modelPath: path.join(dir, 'gd.onnx') } }), {});
    expect(missing).toEqual([
      expect.stringMatching(/^nodes\.detect\.modelPath: no GroundingDINO ONNX model at .*gd\.onnx/),
      expect.stringMatching(/^nodes\.detect\.tokenizerPath: no tokenizer at weights\/tokenizer\.json/),
      expect.stringMatching(/^nodes\.verify\.provider\.apiKeyEnv: the API key for openai-responses \(gpt-5-mini\): export OPENAI_API_KEY=/),
    ]);
  });

  it("checks the answer node's tools, and its detector only when it is not the detect node's", () => {
    const gt = path.join(dir, 'ground-truth.jsonl');
    fs.writeFileSync(gt, '');
    const env = { OPENAI_API_KEY: 'k' };
    const inherited = missingPrerequisites(
      config({
        detect: { kind: 'simulated', groundTruth: gt },
        answer: { depth: { modelPath: path.join(dir, 'depth.onnx') }, vqa: { provider: { kind: 'openai-responses', apiKeyEnv: 'VQA_KEY' } } },
      }),
      env,
    );
    expect(inherited).toEqual([
      expect.stringMatching(/^nodes\.answer\.depth\.modelPath: no depth model at .*depth\.onnx: export one \(docs\/depth-models\.md\)/),
      expect.stringMatching(/^nodes\.answer\.vqa\.provider\.apiKeyEnv: .*export VQA_KEY=/),
    ]);
    const own = missingPrerequisites(
      config({ detect: { kind: 'simulated', groundTruth: gt }, answer: { detector: { kind: 'simulated', groundTruth: path.join(dir, 'other.jsonl') } } }),
      env,
    );
    expect(own).toEqual([expect.stringMatching(/^nodes\.answer\.detector\.groundTruth: .*other\.jsonl does not exist/)]);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../core/errors';
import { bindingDir, checkExecutionProviders } from './execution-providers';
import { GroundingDino } from './grounding-dino';
import { writeTestDetector } from './test-model';

describe('execution providers', () => {
  const supported = [
    { name: 'cpu', bundled: true },
    { name: 'cuda', bundled: false },
  ];

  it('accepts the CPU, and a downloaded provider whose library is installed', () => {
    const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-'));
    expect(() => checkExecutionProviders(['cpu'], { supported, binDir })).not.toThrow();
    fs.writeFileSync(path.join(binDir, 'libonnxruntime_providers_cuda.so'), '');
    expect(() => checkExecutionProviders(['cuda', 'cpu'], { supported, binDir })).not.toThrow();
  });

  it('stops with how to install when CUDA is asked for and missing, and names unknown providers', () => {
    const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ep-'));
    const err = (() => {
      try {
        checkExecutionProviders(['cuda', 'cpu', 'dml'], { supported, binDir });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toMatch(/^nodes\.detect\.executionProviders: 'cuda' was asked for/);
    expect(err!.message).toMatch(/libonnxruntime_providers_cuda\.so is missing/);
    expect(err!.message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(err!.message).toMatch(/'dml' is not supported/);
  });

  it('finds the real binding directory, and the real loader refuses CUDA here (no GPU binaries in the npm package)', async () => {
    expect(fs.existsSync(path.join(bindingDir(), 'onnxruntime_binding.node'))).toBe(true);
    const model = writeTestDetector(fs.mkdtempSync(path.join(os.tmpdir(), 'ep-model-')));
    const opts = { modelPath: model.huggingface, tokenizerPath: model.tokenizerJson, boxThreshold: 0.1, textThreshold: 0.1, batchSize: 1, maxTextLen: 256 };
    const cpu = await GroundingDino.load({ ...opts, executionProviders: ['cpu'] });
    await cpu.close();
    if (!fs.existsSync(path.join(bindingDir(), 'libonnxruntime_providers_cuda.so'))) {
      await expect(GroundingDino.load({ ...opts, executionProviders: ['cuda', 'cpu'] })).rejects.toThrow(/CUDA binaries are not installed/);
    }
  });
});

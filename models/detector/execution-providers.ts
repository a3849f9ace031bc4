// Where GroundingDINO runs: onnxruntime-node's execution providers, in order of preference
// (`nodes.detect.executionProviders`, e.g. ["cuda", "cpu"]). The npm package bundles the CPU
// (and WebGPU) binaries; the CUDA and TensorRT ones are downloaded by its install script only
// when asked for, so a GPU host must install them. onnxruntime would otherwise fall back to
// the CPU quietly, and a GPU deployment would run at CPU speed with nobody told: asking for a
// provider whose binaries are missing stops start-up with how to install them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ConfigError } from '../../core/errors';

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** The shared library each downloaded provider needs next to libonnxruntime. */
const PROVIDER_LIBRARY: Partial<Record<ExecutionProvider, string>> = {
  cuda: 'libonnxruntime_providers_cuda.so',
  tensorrt: 'libonnxruntime_providers_tensorrt.so',
};

/** The directory holding onnxruntime-node's native binding for this platform. */
export function bindingDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = path.join(pkg, 'bin');
  const napi = fs.existsSync(bin) ? (fs.readdirSync(bin).find((d) => d.startsWith('napi-')) ?? '') : '';
  return path.join(bin, napi, process.platform, process.arch);
}

export interface ProviderEnvironment {
  supported: Array<{ name: string; bundled: boolean }>;
  binDir: string;
}

function currentEnvironment(): ProviderEnvironment {
  return { supported: ort.listSupportedBackends(), binDir: bindingDir() };
}

/** Throws one ConfigError naming every requested provider this install cannot run, and how to fix it. */
export function checkExecutionProviders(
  requested: readonly string[],
  env: ProviderEnvironment = currentEnvironment(),
  field = 'nodes.detect.executionProviders',
): void {
  const problems: string[] = [];
  for (const name of requested) {
    const backend = env.supported.find((b) => b.name === name);
    if (!backend) {
      problems.push(
        `'${name}' is not supported by onnxruntime-node on ${process.platform}/${process.arch} (supported: ${env.supported.map((b) => b.name).join(', ')})`,
      );
      continue;
    }
    const lib = PROVIDER_LIBRARY[name as ExecutionProvider];
    if (backend.bundled || !lib || fs.existsSync(path.join(env.binDir, lib))) continue;
    problems.push(
      `'${name}' was asked for, but onnxruntime-node's ${name.toUpperCase()} binaries are not installed (${path.join(env.binDir, lib)} is missing). ` +
        'On the GPU host, with CUDA 12 and cuDNN 9 installed, run `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` ' +
        `(README: Detector models, GPU), or leave it out of ${field} to run on the CPU`,
    );
  }
  if (problems.length) throw new ConfigError(`${field}: ${problems.join('; ')}`);
}

/**
 * An onnxruntime session for a model's bytes on the providers asked for, after checking that
 * this install can run them (`field` names the setting in errors). Load errors are the caller's to word.
 */
export async function createOnnxSession(
  bytes: Buffer,
  opts: { executionProviders: readonly string[]; intraOpThreads?: number; field?: string },
): Promise<ort.InferenceSession> {
  checkExecutionProviders(opts.executionProviders, undefined, opts.field);
  return ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: 'all',
    ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    executionProviders: [...opts.executionProviders],
  });
}

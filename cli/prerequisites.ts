// What a run needs from outside before it starts (model files, API keys), for the nodes that
// will run only, listed all at once with how to provide each. A user who has none of them
// learns everything in one message rather than one missing piece per attempt.
import * as fs from 'node:fs';
import { lookupProcessor } from '../processors';
import { providerConfig } from '../models/llm/create-provider';
import type { AppConfig } from './config';
import { topologyFrom } from './context';
import { corpusNodes } from './embedded-job';

type Obj = Record<string, unknown>;

function providerNeeds(field: string, raw: unknown, env: NodeJS.ProcessEnv): string[] {
  const parsed = providerConfig.safeParse(raw);
  if (!parsed.success) return []; // config validation reports a malformed provider with its field
  const p = parsed.data;
  if (p.kind === 'gemini-vertex') {
    const out: string[] = [];
    if (!p.project && !env.GOOGLE_CLOUD_PROJECT) out.push(`${field}: the Google Cloud project for Vertex AI: set GOOGLE_CLOUD_PROJECT or ${field}.project`);
    if (p.accessTokenEnv && !env[p.accessTokenEnv]) out.push(`${field}.accessTokenEnv: environment variable ${p.accessTokenEnv} is not set`);
    return out;
  }
  if (p.apiKeyEnv && !env[p.apiKeyEnv]) {
    return [
      `${field}.apiKeyEnv: the API key for ${p.kind} (${p.model}): export ${p.apiKeyEnv}=<your key>, or point ${field} at another provider (README: Verification)`,
    ];
  }
  return [];
}

/** The files a detector config needs: the ground truth (simulated), or the model and its tokenizer. */
function detectorNeeds(at: string, c: Obj): string[] {
  if (c.kind === 'simulated') {
    return fs.existsSync(String(c.groundTruth))
      ? []
      : [`${at}.groundTruth: ${c.groundTruth} does not exist (the simulated detector reads a synthetic corpus's ground-truth.jsonl)`];
  }
  const out: string[] = [];
  if (!fs.existsSync(String(c.modelPath)))
    out.push(
      `${at}.modelPath: no GroundingDINO ONNX model at ${c.modelPath}: export one (README: Detector models) and set ${at}.modelPath in a config file (-c)`,
    );
  if (!fs.existsSync(String(c.tokenizerPath)))
    out.push(
      `${at}.tokenizerPath: no tokenizer at ${c.tokenizerPath}: the model's tokenizer.json (bert-base-uncased) goes with the export (README: Detector models)`,
    );
  return out;
}

/** Every missing model file and credential of the corpus nodes, each naming its field and the fix. */
export function missingPrerequisites(config: AppConfig, env: NodeJS.ProcessEnv = process.env): string[] {
  const topology = topologyFrom(config);
  const out: string[] = [];
  for (const name of corpusNodes(topology)) {
    const node = topology.nodes.find((n) => n.name === name)!;
    const parsed = lookupProcessor(node.processor)?.config.safeParse(node.config ?? {});
    if (!parsed?.success) continue; // reported by config validation
    const c = parsed.data as Obj;
    const at = `nodes.${name}`;
    if (node.processor === 'detect') out.push(...detectorNeeds(at, c));
    if (node.processor === 'answer') {
      // The detector the answer node inherits from the detect node was checked there.
      const detect = topology.nodes.find((n) => n.processor === 'detect' && corpusNodes(topology).includes(n.name));
      const checked = detect ? lookupProcessor('detect')?.config.safeParse(detect.config ?? {}) : undefined;
      const d = c.detector as Obj;
      const same = checked?.success && ['kind', 'modelPath', 'tokenizerPath', 'groundTruth'].every((k) => (checked.data as Obj)[k] === d[k]);
      if (!same) out.push(...detectorNeeds(`${at}.detector`, d));
      const depth = c.depth as Obj | undefined;
      if (depth && !fs.existsSync(String(depth.modelPath)))
        out.push(`${at}.depth.modelPath: no depth model at ${depth.modelPath}: export one (docs/depth-models.md) or leave out ${at}.depth`);
      const vqa = c.vqa as Obj | undefined;
      if (vqa?.provider) out.push(...providerNeeds(`${at}.vqa.provider`, vqa.provider, env));
    }
    if (c.provider) out.push(...providerNeeds(`${at}.provider`, c.provider, env));
    const planner = c.planner as Obj | undefined;
    if (planner?.provider) out.push(...providerNeeds(`${at}.planner.provider`, planner.provider, env));
  }
  return out;
}

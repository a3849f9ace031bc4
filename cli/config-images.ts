// One image policy for every stage that loads images (the detect and verify nodes, the ODVG
// sink), so allowed roots and limits are written once instead of three times.
//
// Merge semantics: the top-level `images` block is the base of each stage's `images`; a
// stage's own block overrides it field by field (`nodes.verify.images: {maxBytes: 1000}`
// keeps the top-level `allowedRoots`). Arrays are fields too: a stage's `allowedRoots`
// replaces the top-level list rather than adding to it. Fields set nowhere take the defaults
// of `imageIntakeConfig`.
import * as path from 'node:path';
import { imageIntakeConfig } from '../models/images/image-intake';
import { lookupProcessor } from '../processors';
import { TOPOLOGIES } from '../topology/valor-topology';
import type { AppConfig } from './config';

type Obj = Record<string, unknown>;
const isRecord = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The `images` blocks of the stages of a topology that load images: every node whose
 * processor config has an `images` field (so a new such stage is covered without a list
 * to update), and the ODVG sink. `nodeConfig` decides which optional nodes (answer) are in.
 */
export function imageStagePaths(topologyName: string, nodeConfig?: unknown): string[][] {
  const opts = isRecord(nodeConfig) ? { nodeConfig } : {};
  const nodes = Object.hasOwn(TOPOLOGIES, topologyName) ? TOPOLOGIES[topologyName]!(opts).nodes : [];
  const loadsImages = (kind: string) => (lookupProcessor(kind)?.config as { shape?: Obj } | undefined)?.shape?.images !== undefined;
  return [...nodes.filter((n) => loadsImages(n.processor)).map((n) => ['nodes', n.name, 'images']), ['sinks', 'odvg', 'images']];
}

/**
 * `obj` with the object at `at` replaced by `f(it)`, copying only along the path. A value
 * of the wrong type on the way is left alone: the schema reports it with its own path.
 */
function updateAt<T>(obj: T, at: string[], f: (o: Obj | undefined) => Obj): T {
  const [head, ...rest] = at;
  const cur = (obj as Obj)[head!];
  if (cur !== undefined && !isRecord(cur)) return obj;
  return { ...obj, [head!]: rest.length ? updateAt(cur ?? {}, rest, f) : f(cur) };
}

/**
 * The raw config (before validation, so that a stage's fields can still be told apart from
 * defaults) with the top-level `images` merged under each stage's block. An invalid
 * top-level policy is not spread, so its problems are reported once, at `images.*`.
 */
export function applyImagesPolicy(raw: Obj, topologyName = 'valor'): Obj {
  const policy = raw.images;
  if (!isRecord(policy) || !imageIntakeConfig.safeParse(policy).success) return raw;
  let out = raw;
  for (const p of imageStagePaths(topologyName, raw.nodes)) out = updateAt(out, p, (own) => ({ ...policy, ...own }));
  return out;
}

/**
 * `config` with `dir` added to the allowed roots of the top-level policy and of every stage,
 * including a stage whose own `allowedRoots` replaced the top-level list: the directory of a
 * corpus the operator started the run with must be readable wherever its images go.
 */
export function allowImageRoot(config: AppConfig, dir: string): AppConfig {
  const root = path.resolve(dir);
  const add = (roots: unknown): string[] => {
    const list = Array.isArray(roots) ? (roots as string[]) : config.images.allowedRoots;
    return list.some((r) => path.resolve(r) === root) ? list : [...list, root];
  };
  let out: AppConfig = { ...config, images: { ...config.images, allowedRoots: add(config.images.allowedRoots) } };
  for (const p of imageStagePaths(config.topology, config.nodes)) out = updateAt(out, p, (own) => ({ ...own, allowedRoots: add(own?.allowedRoots) }));
  return out;
}

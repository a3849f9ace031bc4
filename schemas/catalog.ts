// The record types of the topology and of its internal topics (state stores, the label
// log), loaded from schemas/*.avsc (the source of truth). Every topic carries exactly one
// of these types as Avro in the Confluent wire format; `schemas/generated/types.ts` holds
// the matching TypeScript types, regenerated from the same files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as avro from 'avsc';
import type * as T from './generated/types';

export interface RecordTypes {
  ImageQuery: T.ImageQuery;
  DetectionRequest: T.DetectionRequest;
  DetectorProposals: T.DetectorProposals;
  VerifierJudgement: T.VerifierJudgement;
  PseudoLabel: T.PseudoLabel;
  ReasoningRollout: T.ReasoningRollout;
  RewardRecord: T.RewardRecord;
  RewardGroup: T.RewardGroup;
  RewardGroupState: T.RewardGroupState;
  DeadLetter: T.DeadLetter;
  VerdictCacheEntry: T.VerdictCacheEntry;
  BudgetSpend: T.BudgetSpend;
  BatchSubmission: T.BatchSubmission;
  BatchResult: T.BatchResult;
  ParkedRecord: T.ParkedRecord;
  LabelLogEntry: T.LabelLogEntry;
  HumanVerdict: T.HumanVerdict;
  Answer: T.Answer;
}
export type RecordTypeName = keyof RecordTypes;

/** Which .avsc file defines each record type (file name = default topic suffix). */
export const SCHEMA_FILES: Record<RecordTypeName, string> = {
  ImageQuery: 'image-queries.avsc',
  DetectionRequest: 'detection-requests.avsc',
  DetectorProposals: 'detector-proposals.avsc',
  VerifierJudgement: 'verifier-judgements.avsc',
  PseudoLabel: 'pseudo-labels.avsc',
  ReasoningRollout: 'reasoning-rollouts.avsc',
  RewardRecord: 'reward-records.avsc',
  RewardGroup: 'reward-groups.avsc',
  RewardGroupState: 'reward-group-state.avsc',
  DeadLetter: 'dead-letters.avsc',
  VerdictCacheEntry: 'store-verdicts.avsc',
  BudgetSpend: 'store-budget.avsc',
  BatchSubmission: 'store-batches.avsc',
  BatchResult: 'store-batch-results.avsc',
  ParkedRecord: 'parked-records.avsc',
  LabelLogEntry: 'labels.avsc',
  HumanVerdict: 'human-verdicts.avsc',
  Answer: 'answers.avsc',
};

/**
 * Types of internal topics: node state (a changelog, a state store) and the label log.
 * They carry no lineage; other clients may read them but should not build on them.
 */
export const INTERNAL_RECORD_TYPES: readonly RecordTypeName[] = [
  'RewardGroupState',
  'VerdictCacheEntry',
  'BudgetSpend',
  'BatchSubmission',
  'BatchResult',
  'ParkedRecord',
  'LabelLogEntry',
];

export const RECORD_TYPE_NAMES = Object.keys(SCHEMA_FILES) as RecordTypeName[];

/** Directory of the .avsc files; works from source (ts) and from the compiled dist/ tree. */
export function schemaDir(): string {
  for (const candidate of [__dirname, path.join(__dirname, '..', '..', 'schemas')]) {
    if (fs.existsSync(path.join(candidate, 'image-queries.avsc'))) return candidate;
  }
  throw new Error(`cannot find schemas/*.avsc near ${__dirname}`);
}

export interface LoadedSchema {
  name: RecordTypeName;
  file: string;
  /** The schema text as registered with the registry. */
  json: string;
  type: avro.Type;
}

const cache = new Map<RecordTypeName, LoadedSchema>();

export function loadSchema(name: RecordTypeName): LoadedSchema {
  const hit = cache.get(name);
  if (hit) return hit;
  const file = SCHEMA_FILES[name];
  if (!file) throw new Error(`unknown record type '${name}'; known: ${RECORD_TYPE_NAMES.join(', ')}`);
  const json = fs.readFileSync(path.join(schemaDir(), file), 'utf8');
  const parsed = JSON.parse(json);
  const loaded: LoadedSchema = { name, file, json: JSON.stringify(parsed), type: avro.Type.forSchema(parsed) };
  cache.set(name, loaded);
  return loaded;
}

/** Validates a value against its Avro type; returns the paths of the invalid fields. */
export function invalidPaths(name: RecordTypeName, value: unknown): string[] {
  const paths: string[] = [];
  loadSchema(name).type.isValid(value, {
    errorHook: (p: string[]) => paths.push(p.join('.') || '<root>'),
  });
  return paths;
}

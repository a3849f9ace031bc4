// The review API's inputs, checked: every refusal names the field, so the page (and a script
// posting verdicts) can say what was wrong.
import { normalizeCategory } from '../sinks/odvg';
import { STAGES, type Stage } from './review-view';

/** A 4xx answer with its message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string) => new HttpError(400, message);

export interface RecordQuery {
  offset: number;
  limit: number;
  category: string;
  status: 'any' | 'accepted' | 'rejected';
  stage: Stage | '';
  version: string;
  q: string;
  audit: boolean;
  seed: number | undefined;
}

export const MAX_LIMIT = 500;

function intParam(p: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const raw = p.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw bad(`${name}: expected an integer in ${min}..${max}, got '${raw}'`);
  return v;
}

export function parseRecordQuery(p: URLSearchParams): RecordQuery {
  const status = p.get('status') || 'any';
  if (status !== 'any' && status !== 'accepted' && status !== 'rejected') throw bad(`status: expected any, accepted or rejected, got '${status}'`);
  const stage = p.get('stage') || '';
  if (stage && !STAGES.includes(stage as Stage)) throw bad(`stage: expected one of ${STAGES.join(', ')}, got '${stage}'`);
  const audit = p.get('audit') ?? '';
  if (!['', '0', '1', 'true', 'false'].includes(audit)) throw bad(`audit: expected 1 or 0, got '${audit}'`);
  const seed = p.get('seed');
  return {
    offset: intParam(p, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
    limit: intParam(p, 'limit', 48, 1, MAX_LIMIT),
    category: normalizeCategory(p.get('category') ?? ''),
    status,
    stage: stage as Stage | '',
    version: p.get('version') ?? '',
    q: (p.get('q') ?? '').trim().toLowerCase(),
    audit: audit === '1' || audit === 'true',
    seed: seed === null || seed === '' ? undefined : intParam(p, 'seed', 0, 0, 0xffffffff),
  };
}

export type Action = 'ACCEPT' | 'REJECT' | 'RELABEL' | 'ADD';
const ACTIONS: readonly Action[] = ['ACCEPT', 'REJECT', 'RELABEL', 'ADD'];

export interface VerdictInput {
  index: number;
  action: Action;
  box: { bbox: [number, number, number, number]; category: string; id?: string };
  newLabel: string | null;
  audit: boolean;
}

export function parseVerdictInput(body: unknown): VerdictInput {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw bad('body: expected a JSON object {index, action, box: {bbox, category}, newLabel?, audit?}');
  const b = body as Record<string, unknown>;
  if (!Number.isInteger(b.index) || (b.index as number) < 0) throw bad(`index: expected a record index (an integer >= 0), got ${JSON.stringify(b.index)}`);
  if (!ACTIONS.includes(b.action as Action)) throw bad(`action: expected one of ${ACTIONS.join(', ')}, got ${JSON.stringify(b.action)}`);
  const box = b.box as Record<string, unknown> | undefined;
  if (!box || typeof box !== 'object' || Array.isArray(box)) throw bad('box: expected {bbox: [x1, y1, x2, y2], category}');
  const bbox = box.bbox;
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw bad(`box.bbox: expected 4 finite numbers [x1, y1, x2, y2], got ${JSON.stringify(bbox)}`);
  if (typeof box.category !== 'string' || !normalizeCategory(box.category))
    throw bad(`box.category: expected a category name, got ${JSON.stringify(box.category)}`);
  if (box.id !== undefined && typeof box.id !== 'string') throw bad('box.id: expected a string (a box id of the record view)');
  if (b.newLabel !== undefined && b.newLabel !== null && typeof b.newLabel !== 'string') throw bad('newLabel: expected a category name');
  if (b.action === 'RELABEL' && !(typeof b.newLabel === 'string' && normalizeCategory(b.newLabel))) throw bad('newLabel: RELABEL needs the new category');
  if (b.audit !== undefined && typeof b.audit !== 'boolean') throw bad('audit: expected true or false');
  return {
    index: b.index as number,
    action: b.action as Action,
    box: { bbox: bbox as [number, number, number, number], category: normalizeCategory(box.category), ...(box.id ? { id: box.id as string } : {}) },
    newLabel: b.action === 'RELABEL' ? normalizeCategory(b.newLabel as string) : null,
    audit: b.audit === true,
  };
}

// A person's action on a box, from the page's POST to the verdict log: the box is found in
// the record as the page showed it, the HumanVerdict records what the VLM had decided on it
// (what agreement is measured against), and the log is written before anything else sees it.
import type { Logger } from '../../core/logger';
import type { HumanVerdict } from '../../schemas/generated/types';
import { odvgBox } from '../sinks/odvg';
import { newVerdict } from './human-verdicts';
import { HttpError, type VerdictInput } from './review-input';
import type { ReviewStore } from './review-store';
import { boxKey, originOfBox, type BoxView, type Origin, type RecordView } from './review-view';

export interface PostResult {
  verdict: HumanVerdict;
  record: RecordView;
  /** Set when the verdict is logged but `onVerdict` (e.g. the Kafka mirror) failed. */
  warning?: string;
}

const bad = (message: string) => new HttpError(400, message);

function findBox(view: RecordView, input: VerdictInput): BoxView {
  const { bbox, category, id } = input.box;
  const key = boxKey(category, bbox);
  const box = id ? view.boxes.find((b) => b.id === id) : view.boxes.find((b) => boxKey(b.category, b.bbox) === key);
  if (!box || boxKey(box.category, box.bbox) !== key)
    throw bad(`box: record ${view.index} has no box '${category}' [${bbox.join(', ')}]${id ? ` with id '${id}'` : ''}`);
  return box;
}

export async function postVerdict(
  store: ReviewStore,
  input: VerdictInput,
  o: { reviewer: string; at: number; onVerdict?: (v: HumanVerdict) => Promise<void>; logger?: Logger },
): Promise<PostResult> {
  if (input.index >= store.index.size) throw bad(`index: no record ${input.index} (the set has ${store.index.size})`);
  const record = await store.readRecord(input.index);
  const view = store.viewOf(record, input.index);
  const verdicts = store.byImage.get(view.sha256) ?? [];
  let bbox: [number, number, number, number];
  let origin: Origin;
  if (input.action === 'ADD') {
    // A drawn box, in the training set's convention: integer pixels inside the image.
    const [x1, y1, x2, y2] = input.box.bbox;
    const b = odvgBox({ x1: Math.min(x1, x2), y1: Math.min(y1, y2), x2: Math.max(x1, x2), y2: Math.max(y1, y2) }, record.width, record.height);
    if (!b) throw bad(`box.bbox: [${input.box.bbox.join(', ')}] is empty inside the ${record.width}x${record.height} image`);
    if (!store.knows(input.box.category)) throw bad(`box.category: '${input.box.category}' is not in label_map.json (known: ${store.labels.join(', ')})`);
    const had = view.boxes.find((x) => boxKey(x.category, x.bbox) === boxKey(input.box.category, b));
    if (had) throw bad(`box: record ${input.index} already has '${had.category}' [${b.join(', ')}] (${had.status}): accept or reject it instead`);
    bbox = b;
    origin = { vlmDecision: 'NONE', rejectedAt: null };
  } else {
    const box = findBox(view, input);
    bbox = box.bbox;
    origin = originOfBox(box, verdicts);
    if (input.action === 'RELABEL') {
      if (!store.knows(input.newLabel!)) throw bad(`newLabel: '${input.newLabel}' is not in label_map.json (known: ${store.labels.join(', ')})`);
      if (input.newLabel === box.category) throw bad(`newLabel: the box is already '${box.category}'`);
    }
  }
  const verdict = newVerdict(
    {
      reviewer: o.reviewer,
      action: input.action,
      imageSha256: view.sha256,
      filename: record.filename,
      imageWidth: record.width,
      imageHeight: record.height,
      box: { x1: bbox[0], y1: bbox[1], x2: bbox[2], y2: bbox[3], category: input.box.category },
      newLabel: input.newLabel,
      vlmDecision: origin.vlmDecision,
      rejectedAt: origin.rejectedAt,
      pseudoLabelIds: view.pseudoLabels,
      verifierVersions: view.verifierVersions,
      audit: input.audit,
    },
    o.at,
  );
  // The log is the record of what was decided: written first, so a failed mirror loses nothing.
  await store.log.append(verdict);
  const after = await store.applied(verdict, input.index, view);
  let warning: string | undefined;
  if (o.onVerdict) {
    try {
      await o.onVerdict(verdict);
    } catch (err) {
      warning = `the verdict is logged, but mirroring it failed: ${(err as Error).message}`;
      o.logger?.warn({ id: verdict.id, error: String(err) }, 'review: onVerdict failed');
    }
  }
  return { verdict, record: after, ...(warning ? { warning } : {}) };
}

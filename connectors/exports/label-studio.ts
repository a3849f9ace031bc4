// Label Studio tasks with predictions, for teams who review pseudo-labels there. Format as
// checked in Label Studio's docs:
// - guide/predictions: a JSON list of tasks {data: {image}, predictions: [{model_version,
//   result: [{id, type: 'rectanglelabels', from_name, to_name, original_width,
//   original_height, image_rotation, value: {x, y, width, height, rotation,
//   rectanglelabels: [label]}}]}]}; result ids must differ; from_name / to_name name the
//   labeling config's RectangleLabels and Image tags.
// - tags/rectanglelabels: value.x / value.y are the top-left corner and x, y, width, height
//   are percent (0-100) of original_width / original_height.
// - api predictions/create: `score` (per prediction) is optional; `model_version` filters
//   tasks in the Data Manager. The merged set carries no per-box score, so none is written.
// - guide/storage_local: a task names a local file as `/data/local-files/?d=<path relative
//   to LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT>`; the default prefix plus the dataset-relative
//   filename works with the document root set to the dataset directory.
// Percentages are written unrounded so they convert back to the same pixels. A background
// image gets a prediction with no regions: the reviewer sees that nothing was found there.
import { jsonArrayChunks, writeFileAtomic, type TrainingSet } from './training-set';

export const LS_LOCAL_FILES_PREFIX = '/data/local-files/?d=';
/** The labeling config's tag names the results refer to (labelingConfig() writes them). */
export const LS_FROM_NAME = 'label';
export const LS_TO_NAME = 'image';

export interface LsResult {
  id: string;
  type: 'rectanglelabels';
  from_name: string;
  to_name: string;
  original_width: number;
  original_height: number;
  image_rotation: 0;
  value: { x: number; y: number; width: number; height: number; rotation: 0; rectanglelabels: string[] };
}
export interface LsTask {
  /** `filename`: the image in the dataset (relative to its root), to map reviews back. */
  data: { image: string; filename: string };
  predictions: Array<{ model_version: string; result: LsResult[] }>;
}

export interface LabelStudioOptions {
  /** Prepended to the dataset-relative filename (default LS_LOCAL_FILES_PREFIX). */
  imageUrlPrefix?: string;
  /** Default 'valor-stream'. */
  modelVersion?: string;
}

/** The image URL: the prefix plus the filename, each path segment URL-encoded (it sits in a query string). */
export function imageUrl(filename: string, prefix = LS_LOCAL_FILES_PREFIX): string {
  return prefix + filename.split('/').map(encodeURIComponent).join('/');
}

export function toLabelStudio(set: TrainingSet, opts: LabelStudioOptions = {}): LsTask[] {
  const model_version = opts.modelVersion ?? 'valor-stream';
  return set.images.map((img, i) => ({
    data: { image: imageUrl(img.filename, opts.imageUrlPrefix), filename: img.filename },
    predictions: [
      {
        model_version,
        result: img.instances.map(({ bbox: [x1, y1, x2, y2], category }, j) => ({
          id: `v${i + 1}b${j + 1}`,
          type: 'rectanglelabels' as const,
          from_name: LS_FROM_NAME,
          to_name: LS_TO_NAME,
          original_width: img.width,
          original_height: img.height,
          image_rotation: 0 as const,
          value: {
            x: (x1 / img.width) * 100,
            y: (y1 / img.height) * 100,
            width: ((x2 - x1) / img.width) * 100,
            height: ((y2 - y1) / img.height) * 100,
            rotation: 0 as const,
            rectanglelabels: [category],
          },
        })),
      },
    ],
  }));
}

/** The labeling config the tasks fit: one RectangleLabels with every label-map category. */
export function labelingConfig(labels: string[]): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    '<View>',
    `  <Image name="${LS_TO_NAME}" value="$image"/>`,
    `  <RectangleLabels name="${LS_FROM_NAME}" toName="${LS_TO_NAME}">`,
    ...labels.map((l) => `    <Label value="${esc(l)}"/>`),
    '  </RectangleLabels>',
    '</View>',
    '',
  ].join('\n');
}

/** Writes the tasks JSON and, beside it, `<name>.label-config.xml`; returns the tasks and the config's path. */
export async function writeLabelStudio(set: TrainingSet, file: string, opts: LabelStudioOptions = {}): Promise<{ tasks: LsTask[]; config: string }> {
  const tasks = toLabelStudio(set, opts);
  await writeFileAtomic(file, [...jsonArrayChunks(tasks), Buffer.from('\n')]);
  const config = file.replace(/(\.json)?$/i, '.label-config.xml');
  await writeFileAtomic(config, labelingConfig(set.labels));
  return { tasks, config };
}

/** For read-back: the pixels a result stands for (xyxy). */
export const lsResultXyxy = (r: LsResult): [number, number, number, number] => {
  const { x, y, width, height } = r.value;
  const W = r.original_width / 100;
  const H = r.original_height / 100;
  return [x * W, y * H, (x + width) * W, (y + height) * H];
};

import * as fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { ConfigError } from '../../core/errors';
import { createOnnxSession } from './execution-providers';
import { sha256Hex } from '../../core/ids';
import { padBatch, Preprocessed } from '../images/preprocess';
import { buildCaption } from './caption';
import { postprocess, ProposedBox } from './postprocess';
import { DetectorTokenizer, textMasks } from './tokenizer';

export type Layout = 'original' | 'huggingface';

/** Input and output names of the two common GroundingDINO ONNX exports. */
export const LAYOUTS: Record<Layout, { inputs: string[]; logits: string; boxes: string }> = {
  original: {
    inputs: ['img', 'input_ids', 'attention_mask', 'position_ids', 'token_type_ids', 'text_token_mask'],
    logits: 'logits',
    boxes: 'boxes',
  },
  huggingface: {
    inputs: ['pixel_values', 'input_ids', 'token_type_ids', 'attention_mask', 'pixel_mask'],
    logits: 'logits',
    boxes: 'pred_boxes',
  },
};

/** Recognises the export from the session's input names; anything else fails at start-up. */
export function detectLayout(inputNames: readonly string[], outputNames: readonly string[]): Layout {
  const have = [...inputNames].sort().join(',');
  for (const [name, l] of Object.entries(LAYOUTS) as Array<[Layout, (typeof LAYOUTS)[Layout]]>) {
    if ([...l.inputs].sort().join(',') === have) {
      for (const out of [l.logits, l.boxes]) {
        if (!outputNames.includes(out)) {
          throw new ConfigError(`GroundingDINO ${name} layout needs output '${out}'; the model has outputs: ${outputNames.join(', ')}`);
        }
      }
      return name;
    }
  }
  throw new ConfigError(
    `unknown GroundingDINO ONNX layout: model inputs are [${inputNames.join(', ')}]; expected either ` +
      `[${LAYOUTS.original.inputs.join(', ')}] (original repository export) or ` +
      `[${LAYOUTS.huggingface.inputs.join(', ')}] (Hugging Face export)`,
  );
}

export interface DetectItem {
  image: Preprocessed;
  phrases: string[];
}

export interface DetectResult {
  caption: string;
  boxes: ProposedBox[];
}

export interface DetectorTimings {
  inferenceMs: number;
  postprocessMs: number;
  calls: number;
}

export interface DetectorOptions {
  modelPath: string;
  tokenizerPath: string;
  boxThreshold: number;
  textThreshold: number;
  batchSize: number;
  maxTextLen: number;
  intraOpThreads?: number;
  /** In order of preference; default CPU only. Checked before the session is made. */
  executionProviders?: readonly string[];
}

/** GroundingDINO on onnxruntime-node: text prep, batched inference, post-processing. */
export class GroundingDino {
  readonly timings: DetectorTimings = { inferenceMs: 0, postprocessMs: 0, calls: 0 };

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly layout: Layout,
    readonly modelSha256: string,
    readonly tokenizer: DetectorTokenizer,
    readonly opts: DetectorOptions,
  ) {}

  static async load(opts: DetectorOptions): Promise<GroundingDino> {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(opts.modelPath);
    } catch (err) {
      throw new ConfigError(
        `cannot read the GroundingDINO model at '${opts.modelPath}' (nodes.detect.modelPath): ${(err as Error).message}. ` +
          'Export one as the README explains (Detector models).',
      );
    }
    const tokenizer = DetectorTokenizer.fromFile(opts.tokenizerPath, 'nodes.detect.tokenizerPath');
    let session: ort.InferenceSession;
    try {
      session = await createOnnxSession(bytes, { executionProviders: opts.executionProviders ?? ['cpu'], intraOpThreads: opts.intraOpThreads });
    } catch (err) {
      if (err instanceof ConfigError) throw err; // a provider this install cannot run
      throw new ConfigError(`onnxruntime cannot load '${opts.modelPath}': ${(err as Error).message}`);
    }
    const layout = detectLayout(session.inputNames, session.outputNames);
    return new GroundingDino(session, layout, sha256Hex(bytes), tokenizer, opts);
  }

  /** Releases the onnxruntime session (native memory); the detector is unusable after. */
  async close(): Promise<void> {
    await this.session.release();
  }

  /** Runs items in batches of `batchSize` (original layout: only same-size images share a call). */
  async detect(items: DetectItem[]): Promise<DetectResult[]> {
    const results = new Array<DetectResult>(items.length);
    const groups: number[][] = [];
    if (this.layout === 'huggingface') {
      // pixel_mask tells the model which pixels are padding, so any sizes can share a call.
      for (let i = 0; i < items.length; i += this.opts.batchSize) groups.push(items.slice(i, i + this.opts.batchSize).map((_, j) => i + j));
    } else {
      // The original export takes no image mask: padding would change the features, so
      // only images of identical size are batched together.
      const bySize = new Map<string, number[]>();
      items.forEach((it, i) => {
        const k = `${it.image.width}x${it.image.height}`;
        bySize.set(k, [...(bySize.get(k) ?? []), i]);
      });
      for (const idx of bySize.values()) for (let i = 0; i < idx.length; i += this.opts.batchSize) groups.push(idx.slice(i, i + this.opts.batchSize));
    }
    for (const g of groups) {
      const out = await this.run(g.map((i) => items[i]!));
      g.forEach((i, j) => (results[i] = out[j]!));
    }
    return results;
  }

  private async run(items: DetectItem[]): Promise<DetectResult[]> {
    const B = items.length;
    const captions = items.map((it) => buildCaption(it.phrases));
    const ids = captions.map((c) => this.tokenizer.encode(c.caption, this.opts.maxTextLen));
    const T = Math.max(...ids.map((x) => x.length));
    const inputIds = new BigInt64Array(B * T).fill(BigInt(this.tokenizer.padId));
    const attention = new Uint8Array(B * T);
    const positions = new BigInt64Array(B * T);
    const textMask = new Uint8Array(B * T * T);
    ids.forEach((row, b) => {
      // Masks are computed over the padded row, as the reference tokenizes with padding="longest".
      const padded = [...row, ...new Array<number>(T - row.length).fill(this.tokenizer.padId)];
      const m = textMasks(padded, this.tokenizer.specialIds);
      for (let t = 0; t < T; t++) {
        inputIds[b * T + t] = BigInt(padded[t]!);
        attention[b * T + t] = t < row.length ? 1 : 0;
        positions[b * T + t] = BigInt(m.positionIds[t]!);
      }
      textMask.set(m.selfAttention, b * T * T);
    });
    const batch = padBatch(items.map((it) => it.image));
    const img = new ort.Tensor('float32', batch.data, [B, 3, batch.height, batch.width]);
    const tokenTypes = new ort.Tensor('int64', new BigInt64Array(B * T), [B, T]);
    const idsT = new ort.Tensor('int64', inputIds, [B, T]);
    const feeds: Record<string, ort.Tensor> =
      this.layout === 'original'
        ? {
            img,
            input_ids: idsT,
            attention_mask: new ort.Tensor('bool', attention, [B, T]),
            position_ids: new ort.Tensor('int64', positions, [B, T]),
            token_type_ids: tokenTypes,
            text_token_mask: new ort.Tensor('bool', textMask, [B, T, T]),
          }
        : {
            pixel_values: img,
            input_ids: idsT,
            token_type_ids: tokenTypes,
            attention_mask: new ort.Tensor(
              'int64',
              BigInt64Array.from(attention, (v) => BigInt(v)),
              [B, T],
            ),
            pixel_mask: new ort.Tensor('int64', batch.pixelMask, [B, batch.height, batch.width]),
          };
    const t0 = performance.now();
    const out = await this.session.run(feeds);
    const t1 = performance.now();
    const names = LAYOUTS[this.layout];
    const logits = out[names.logits]!;
    const boxes = out[names.boxes]!;
    const [, Q, L] = logits.dims as number[];
    const logitData = logits.data as Float32Array;
    const boxData = boxes.data as Float32Array;
    const results = items.map((it, b) => ({
      caption: captions[b]!.caption,
      boxes: postprocess({
        logits: logitData.subarray(b * Q! * L!, (b + 1) * Q! * L!),
        boxes: boxData.subarray(b * Q! * 4, (b + 1) * Q! * 4),
        numQueries: Q!,
        logitWidth: L!,
        ids: ids[b]!,
        boxThreshold: this.opts.boxThreshold,
        textThreshold: this.opts.textThreshold,
        parts: captions[b]!.parts,
        labels: captions[b]!.labels,
        decode: (x) => this.tokenizer.decode(x),
        width: it.image.origWidth,
        height: it.image.origHeight,
      }),
    }));
    this.timings.inferenceMs += t1 - t0;
    this.timings.postprocessMs += performance.now() - t1;
    this.timings.calls++;
    return results;
  }
}

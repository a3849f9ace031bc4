import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError } from '../../core/errors';
import { sha256Hex } from '../../core/ids';

// @huggingface/tokenizers is ESM-only. Node >= 20.19 loads ESM through require(); a
// native require also works under jest, whose own module loader cannot load ESM.
const nativeRequire = createRequire(__filename);

interface HfTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  token_to_id?(token: string): number | undefined;
}

/** The BERT-uncased tokenizer.json structure, for users who only have a vocab.txt. */
export function bertTokenizerJson(vocab: string[]): object {
  const ids: Record<string, number> = {};
  vocab.forEach((t, i) => (ids[t] = i));
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in ids);
  for (const t of ['[UNK]', '[CLS]', '[SEP]']) {
    if (!(t in ids)) throw new ConfigError(`vocab.txt has no ${t} token: not a BERT vocabulary`);
  }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => ({
      id: ids[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [ids['[CLS]']], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [ids['[SEP]']], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
  };
}

/**
 * GroundingDINO's text tokenizer (bert-base-uncased) loaded offline from the model's
 * tokenizer.json or vocab.txt through @huggingface/tokenizers.
 */
export class DetectorTokenizer {
  readonly sha256: string;
  private readonly tok: HfTokenizer;
  private readonly vocab: Map<string, number>;
  /** [CLS], [SEP], "." and "?": the tokens that delimit GroundingDINO's sub-sentences. */
  readonly specialIds: Set<number>;
  readonly padId: number;
  readonly clsId: number;
  readonly sepId: number;

  constructor(json: { model?: { vocab?: Record<string, number> } }, sourceText: string) {
    const { Tokenizer } = nativeRequire('@huggingface/tokenizers') as { Tokenizer: new (j: object, c: object) => HfTokenizer };
    this.tok = new Tokenizer(json, {});
    this.sha256 = sha256Hex(sourceText);
    const v = json.model?.vocab;
    if (!v || typeof v !== 'object') throw new ConfigError('tokenizer.json has no model.vocab: expected a WordPiece (BERT) tokenizer');
    this.vocab = new Map(Object.entries(v));
    const id = (t: string) => {
      const x = this.vocab.get(t);
      if (x === undefined) throw new ConfigError(`tokenizer has no '${t}' token: GroundingDINO needs a BERT vocabulary`);
      return x;
    };
    this.clsId = id('[CLS]');
    this.sepId = id('[SEP]');
    this.padId = this.vocab.get('[PAD]') ?? 0;
    this.specialIds = new Set([this.clsId, this.sepId, id('.'), ...(this.vocab.has('?') ? [id('?')] : [])]);
  }

  /**
   * Loads tokenizer.json, or vocab.txt (by its extension). `field` is the config field the
   * path came from (e.g. `nodes.detect.tokenizerPath`): every error names it, so a person
   * knows which setting to fix.
   */
  static fromFile(file: string, field?: string): DetectorTokenizer {
    const where = `tokenizer ${file}${field ? ` (${field})` : ''}`;
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${where}: ${(err as Error).message}`);
    }
    try {
      if (file.endsWith('.txt')) {
        const vocab = text.split(/\r?\n/).filter((l, i, a) => l.length > 0 || i < a.length - 1);
        return new DetectorTokenizer(bertTokenizerJson(vocab) as never, text);
      }
      return new DetectorTokenizer(JSON.parse(text), text);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${where}: ${err.message}`);
      throw new ConfigError(`${where} is not a ${file.endsWith('.txt') ? 'vocab.txt' : 'tokenizer.json'}: ${(err as Error).message}`);
    }
  }

  /** Token ids with [CLS]/[SEP], truncated to maxLen keeping the closing [SEP]. */
  encode(caption: string, maxLen = 256): number[] {
    const ids = this.tok.encode(caption).ids;
    if (ids.length <= maxLen) return ids;
    return [...ids.slice(0, maxLen - 1), this.sepId];
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: false });
  }
}

export interface TextMasks {
  positionIds: number[];
  /** Row-major [T,T] sub-sentence attention: each phrase attends only within itself. */
  selfAttention: Uint8Array;
}

/**
 * GroundingDINO's generate_masks_with_special_tokens_and_transfer_map: every special
 * token closes a block; tokens of a block attend to each other and count positions from
 * 0; a special token at the first or last index attends to itself with position 0.
 */
export function textMasks(ids: number[], specialIds: Set<number>): TextMasks {
  const n = ids.length;
  const positionIds = new Array<number>(n).fill(0);
  const att = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) att[i * n + i] = 1;
  let previous = 0;
  for (let col = 0; col < n; col++) {
    if (!specialIds.has(ids[col]!)) continue;
    if (col === 0 || col === n - 1) {
      positionIds[col] = 0;
    } else {
      for (let r = previous + 1; r <= col; r++) {
        positionIds[r] = r - previous - 1;
        for (let c = previous + 1; c <= col; c++) att[r * n + c] = 1;
      }
    }
    previous = col;
  }
  return { positionIds, selfAttention: att };
}

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCaption, normalizePhrase } from './caption';
import { bertTokenizerJson, DetectorTokenizer, textMasks } from './tokenizer';

const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', '?', '-', 'the', 'running', 'dog', 'red', 'circle', 'blue', 'square', 'mug', 'run', '##ning'];
const id = (t: string) => VOCAB.indexOf(t);
const tokenizer = () => new DetectorTokenizer(bertTokenizerJson(VOCAB) as never, VOCAB.join('\n'));

describe('caption building (VALOR prompt rules)', () => {
  it('splits on commas, trims, joins with " . ", hyphenates inner spaces, lowercases, ends with "."', () => {
    expect(buildCaption(['Red Circle, blue  square', ' mug '])).toEqual({
      caption: 'red-circle . blue-square . mug.',
      parts: ['red-circle', 'blue-square', 'mug'],
      labels: ['Red Circle', 'blue square', 'mug'],
    });
    expect(buildCaption(['dog.']).caption).toBe('dog.');
  });

  it('compares phrases regardless of decoder spacing around hyphens', () => {
    expect(normalizePhrase('red - circle')).toBe(normalizePhrase('Red-Circle'));
  });
});

describe('tokenizer and GroundingDINO text masks', () => {
  it('tokenizes with [CLS]/[SEP] through the real WordPiece model', () => {
    const t = tokenizer();
    expect(t.encode('the running dog .')).toEqual([2, id('the'), id('running'), id('dog'), id('.'), 3]);
    expect(t.encode('red-circle . blue-square.')).toEqual([2, id('red'), id('-'), id('circle'), id('.'), id('blue'), id('-'), id('square'), id('.'), 3]);
    expect(t.encode('runned')).toEqual([2, id('[UNK]'), 3]); // no hand-rolled WordPiece here
  });

  it('gives position ids 0,0,1,2,3,0 and one attention block for "the running dog ."', () => {
    const t = tokenizer();
    const ids = t.encode('the running dog .');
    const { positionIds, selfAttention } = textMasks(ids, t.specialIds);
    expect(positionIds).toEqual([0, 0, 1, 2, 3, 0]);
    const n = ids.length;
    const rows = Array.from({ length: n }, (_, r) => Array.from(selfAttention.slice(r * n, r * n + n)).join(''));
    expect(rows).toEqual(['100000', '011110', '011110', '011110', '011110', '000001']);
  });

  it('starts a new block after every "." so phrases do not attend to each other', () => {
    const t = tokenizer();
    const ids = t.encode('red-circle . mug.'); // [CLS] red - circle . mug . [SEP]
    const { positionIds, selfAttention } = textMasks(ids, t.specialIds);
    expect(positionIds).toEqual([0, 0, 1, 2, 3, 0, 1, 0]);
    const n = ids.length;
    expect(selfAttention[1 * n + 5]).toBe(0); // "red" does not see "mug"
    expect(selfAttention[5 * n + 6]).toBe(1); // "mug" sees its "."
  });

  it('truncates to the max length keeping [SEP] last', () => {
    const ids = tokenizer().encode('the dog . the dog . the dog .', 5);
    expect(ids).toHaveLength(5);
    expect(ids[4]).toBe(3);
  });

  it('loads vocab.txt and tokenizer.json files, and names what is wrong with bad ones', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-'));
    fs.writeFileSync(path.join(dir, 'vocab.txt'), VOCAB.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(bertTokenizerJson(VOCAB)));
    const a = DetectorTokenizer.fromFile(path.join(dir, 'vocab.txt'));
    const b = DetectorTokenizer.fromFile(path.join(dir, 'tokenizer.json'));
    expect(a.encode('the dog .')).toEqual(b.encode('the dog .'));
    expect(a.decode([id('red'), id('-'), id('circle')])).toBe('red - circle');
    fs.writeFileSync(path.join(dir, 'bad.txt'), 'a\nb\n');
    expect(() => DetectorTokenizer.fromFile(path.join(dir, 'bad.txt'))).toThrow(/no \[UNK\] token/);
    expect(() => DetectorTokenizer.fromFile(path.join(dir, 'missing.json'))).toThrow(/cannot read tokenizer/);
  });

  it('names the config field the path came from in every error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tok-'));
    fs.writeFileSync(path.join(dir, 'bad.txt'), 'a\nb\n');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{nope');
    const field = 'nodes.detect.tokenizerPath';
    expect(() => DetectorTokenizer.fromFile(path.join(dir, 'missing.json'), field)).toThrow(
      /^cannot read tokenizer .*missing\.json \(nodes\.detect\.tokenizerPath\): ENOENT/,
    );
    expect(() => DetectorTokenizer.fromFile(path.join(dir, 'bad.txt'), field)).toThrow(
      /bad\.txt \(nodes\.detect\.tokenizerPath\): vocab\.txt has no \[UNK\] token/,
    );
    expect(() => DetectorTokenizer.fromFile(path.join(dir, 'bad.json'), field)).toThrow(/bad\.json \(nodes\.detect\.tokenizerPath\) is not a tokenizer\.json/);
  });
});

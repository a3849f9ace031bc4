import { ConfigError, ValidationError } from '../../core/errors';
import { checkFormat, formatGate, parseJudgeScore, parseRewardWeights, RewardComponents, rewardWeightsSchema, splitRollout, totalReward } from './reward-score';

const PROGRAM = 'boxes = gd_detect(img_pth, "cat")\nfinal_answer = len(boxes)';
const ROLLOUT = `<plan>1. Detect cats.\n2. Count them.</plan>\n<answer>\n${PROGRAM}\n</answer>`;
const ALL_ONES: RewardComponents = { logic: 1, syntax: 1, attributes: 1, spatial: 1, adherence: 1 };
const DEFAULTS = rewardWeightsSchema.parse({});

describe('splitRollout', () => {
  it('takes the plan and the answer block, trimmed', () => {
    expect(splitRollout(ROLLOUT)).toEqual({ plan: '1. Detect cats.\n2. Count them.', program: PROGRAM });
  });

  it('unwraps a code fence inside the answer block', () => {
    expect(splitRollout(`<plan>p</plan><answer>\n\`\`\`python\n${PROGRAM}\n\`\`\`\n</answer>`).program).toBe(PROGRAM);
  });

  it('falls back to the first fenced code block when there is no answer block', () => {
    const text = `<plan>p</plan>\nHere:\n\`\`\`python\n${PROGRAM}\n\`\`\`\nand\n\`\`\`\nother = 1\n\`\`\``;
    expect(splitRollout(text)).toEqual({ plan: 'p', program: PROGRAM });
  });

  it('gives null for missing or empty blocks', () => {
    expect(splitRollout('just prose')).toEqual({ plan: null, program: null });
    expect(splitRollout('<plan>  </plan><answer>\n</answer>')).toEqual({ plan: null, program: null });
    // An unclosed tag is not a block.
    expect(splitRollout('<plan>1. step')).toEqual({ plan: null, program: null });
  });

  it('takes the first block when a tag repeats', () => {
    expect(splitRollout('<plan>a</plan><plan>b</plan><answer>x = 1</answer><answer>y = 2</answer>')).toEqual({ plan: 'a', program: 'x = 1' });
  });
});

describe('formatGate', () => {
  it.each([
    [ROLLOUT, true],
    [`<answer>${PROGRAM}</answer>`, false],
    ['<plan>1. detect</plan>\n```python\nfinal_answer = 1\n```', false],
    ['<plan>1. detect</plan><answer>final_answer = 1', false],
    ['', false],
    // An empty block fails like a missing one: there would be nothing to judge.
    ['<plan>  </plan><answer>final_answer = 1</answer>', false],
    ['<plan>1. detect</plan><answer>\n</answer>', false],
    ['<plan>1. detect</plan><answer>```python\n```</answer>', false],
  ])('%j -> %s', (text, ok) => {
    expect(formatGate(text)).toBe(ok);
  });

  it('passes exactly when there is a plan and a program to judge', () => {
    for (const text of [ROLLOUT, '<plan></plan><answer>x = 1</answer>', '<plan>p</plan>\n```python\nx = 1\n```', '<plan>p</plan><answer> </answer>']) {
      const c = checkFormat(text);
      expect(c.formatOk).toBe(c.plan !== null && c.program !== null && text.includes('</answer>'));
      expect({ plan: c.plan, program: c.program }).toEqual(splitRollout(text));
    }
  });
});

describe('parseJudgeScore', () => {
  it.each([
    ['The plan is sound.\n<answer>1</answer>', 1, true],
    ['Missing a check.\n<answer>0</answer>', 0, true],
    ['<answer> 1 </answer>\n', 1, true],
    // The last tag is the verdict: an earlier quoted tag does not count.
    ['I could say <answer>1</answer>, but step 3 fails.\n<answer>0</answer>', 0, true],
    ['First thought <answer>0</answer>; on reflection <answer>1</answer>', 1, true],
  ])('%j -> %s', (text, score, parsed) => {
    expect(parseJudgeScore(text)).toEqual({ score, parsed });
  });

  it.each([['no tag at all'], ['<answer>yes</answer>'], ['<answer>0.5</answer>'], ['<answer>1'], ['<answer>1</answer> then <answer>maybe</answer>'], ['']])(
    'unparsable %j -> 0, parsed=false',
    (text) => {
      expect(parseJudgeScore(text)).toEqual({ score: 0, parsed: false });
    },
  );
});

describe('reward weights', () => {
  it('defaults to the method: logic 0.3, syntax 0.1, attributes/spatial/adherence 0.2', () => {
    expect(DEFAULTS).toEqual({ logic: 0.3, syntax: 0.1, attributes: 0.2, spatial: 0.2, adherence: 0.2 });
  });

  it('accepts other weights that sum to 1', () => {
    expect(parseRewardWeights({ logic: 0.5, syntax: 0.1, attributes: 0.1, spatial: 0.1, adherence: 0.2 }).logic).toBe(0.5);
  });

  it('rejects weights summing to 0.9 with a config error naming the field and the sum', () => {
    const bad = { logic: 0.2 }; // 0.2 + 0.1 + 0.2 + 0.2 + 0.2 = 0.9
    expect(rewardWeightsSchema.safeParse(bad).success).toBe(false);
    expect(() => parseRewardWeights(bad, 'reward.weights')).toThrow(ConfigError);
    expect(() => parseRewardWeights(bad, 'reward.weights')).toThrow(/reward\.weights: weights must sum to 1 .*got 0\.9.*logic 0\.2/);
  });

  it('names a bad or unknown weight field', () => {
    expect(() => parseRewardWeights({ spatial: -0.1, adherence: 0.5 })).toThrow(/weights\.spatial: a weight must be >= 0/);
    expect(() => parseRewardWeights({ style: 0.1 })).toThrow(/style/);
  });
});

describe('totalReward', () => {
  it('is the weighted sum when the format gate passes', () => {
    expect(totalReward(ALL_ONES, DEFAULTS, true)).toBe(1);
    expect(totalReward({ logic: 1, syntax: 0, attributes: 1, spatial: 0, adherence: 1 }, DEFAULTS, true)).toBeCloseTo(0.7, 12);
    expect(totalReward({ logic: 0, syntax: 1, attributes: 0, spatial: 0, adherence: 0 }, DEFAULTS, true)).toBeCloseTo(0.1, 12);
  });

  it('is 0 when <plan> is missing, even if every judge says 1', () => {
    const text = '<answer>final_answer = 1</answer>';
    expect(totalReward(ALL_ONES, DEFAULTS, formatGate(text))).toBe(0);
  });

  it('rejects a component outside [0, 1] or not a number, naming it', () => {
    expect(() => totalReward({ ...ALL_ONES, spatial: 2 }, DEFAULTS, true)).toThrow(ValidationError);
    expect(() => totalReward({ ...ALL_ONES, logic: Number.NaN }, DEFAULTS, true)).toThrow(/reward component logic/);
  });
});

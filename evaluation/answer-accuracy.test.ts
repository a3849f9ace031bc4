import { answerKind, meanRelativeAccuracy, normalizeAnswer, scoreAnswer, summarizeAnswers } from './answer-accuracy';

describe('answer accuracy', () => {
  it('computes MRA over the ten thresholds 0.50..0.95 (hand-computed cases)', () => {
    expect(meanRelativeAccuracy(10, 10)).toBe(1);
    // |ŷ−y|/y = 0.04 < 0.05: passes every threshold.
    expect(meanRelativeAccuracy(10.4, 10)).toBe(1);
    // 0.12: passes 1−θ > 0.12 for θ = 0.50..0.85 (8 of 10).
    expect(meanRelativeAccuracy(11.2, 10)).toBeCloseTo(0.8, 12);
    // 0.3: passes θ = 0.50..0.65 (4 of 10).
    expect(meanRelativeAccuracy(7, 10)).toBeCloseTo(0.4, 12);
    // 0.5 is not < 0.5: no threshold passes.
    expect(meanRelativeAccuracy(15, 10)).toBe(0);
    expect(meanRelativeAccuracy(0, 0)).toBe(1);
    expect(meanRelativeAccuracy(1, 0)).toBe(0);
    expect(meanRelativeAccuracy(null, 3)).toBe(0);
  });

  it('scores yes/no, choices and counts by exact match after normalizing', () => {
    expect(normalizeAnswer(' Yes. ')).toBe('yes');
    expect(normalizeAnswer(true)).toBe('yes');
    expect(normalizeAnswer('(B)')).toBe('b');
    expect(scoreAnswer('YES', 'yes')).toEqual({ kind: 'yes/no', score: 1 });
    expect(scoreAnswer(false, 'no')).toEqual({ kind: 'yes/no', score: 1 });
    expect(scoreAnswer('no', 'yes')).toEqual({ kind: 'yes/no', score: 0 });
    expect(scoreAnswer('(c)', 'C')).toEqual({ kind: 'choice', score: 1 });
    expect(scoreAnswer(3, '3')).toEqual({ kind: 'count', score: 1 });
    expect(scoreAnswer('4 cups', '3')).toEqual({ kind: 'count', score: 0 });
    expect(scoreAnswer('2.3 m', '2.5')).toEqual({ kind: 'number', score: 0.9 }); // 0.08: θ 0.50..0.90
    expect(answerKind('a red mug')).toBe('text');
  });

  it("follows a benchmark's declared answer type (Omni3D-Bench's int/float/str) over the answer's shape", () => {
    // A float truth that happens to be whole is still MRA: 1.5 vs 2 is 25% off (θ 0.50..0.70 pass).
    expect(scoreAnswer('1.5', '2', 'depth', 'float')).toEqual({ kind: 'number', score: 0.5 });
    expect(scoreAnswer('1.8', '2')).toEqual({ kind: 'count', score: 0 });
    expect(scoreAnswer('3', '3', 'how many', 'int')).toEqual({ kind: 'count', score: 1 });
    expect(scoreAnswer('Yes', 'yes', 'spatial', 'str')).toEqual({ kind: 'yes/no', score: 1 });
  });

  it('summarizes per question type and overall, failed programs counting 0 with their reasons', () => {
    const s = summarizeAnswers([
      { questionType: 'left', kind: 'yes/no', score: 1 },
      { questionType: 'left', kind: 'yes/no', score: 0, failure: 'ToolError at line 3: gd_detect: budget of 8 calls spent' },
      { questionType: 'count', kind: 'count', score: 1 },
      { questionType: 'count', kind: 'count', score: 0, failure: 'ToolError at line 5: gd_detect: budget of 8 calls spent' },
      { questionType: 'depth', kind: 'number', score: 0.8 },
    ]);
    expect(s.overall).toEqual({ questions: 5, accuracy: (1 + 0 + 1 + 0 + 0.8) / 5, failed: 2 });
    expect(s.byType.left).toEqual({ questions: 2, accuracy: 0.5, failed: 1 });
    expect(s.byType.depth!.accuracy).toBeCloseTo(0.8, 12);
    expect(s.failures).toEqual([{ reason: 'ToolError at line N: gd_detect: budget of N calls spent', count: 2 }]);
  });
});

import { DEFAULT_TEXT_LIMITS, queryTextProblems, textFieldProblem, textLimitsSchema } from './text-limits';

const limits = { maxQuestionChars: 10, maxPhraseChars: 5, maxPhrases: 2, maxProgramChars: 8 };

describe('text limits', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_TEXT_LIMITS).toEqual({ maxQuestionChars: 4000, maxPhraseChars: 256, maxPhrases: 64, maxProgramChars: 32768 });
    expect(textLimitsSchema.parse({ maxPhrases: 3 })).toEqual({ ...DEFAULT_TEXT_LIMITS, maxPhrases: 3 });
    expect(textLimitsSchema.safeParse({ maxPhrases: 0 }).success).toBe(false);
    expect(textLimitsSchema.safeParse({ maxPhrase: 3 }).success).toBe(false); // typo: strict
  });

  it('accepts ordinary text, including valid surrogate pairs (emoji) counted as one character', () => {
    expect(queryTextProblems({ question: 'Is the 🐶 left of the cat?', phrases: ['dog', 'cat'], program: null })).toEqual([]);
    // 5 code points, 6 UTF-16 code units: fits a limit of 5.
    expect(textFieldProblem('p', 'ab🐶cd', 5, 'k')).toBeNull();
    expect(textFieldProblem('p', 'ab🐶cde', 5, 'k')).toBe('p: 6 characters, more than the limit of 5 (k)');
  });

  it('finds a NUL and gives its position', () => {
    expect(queryTextProblems({ question: 'abc\u0000def' })).toEqual(['question: NUL character at position 3']);
    expect(queryTextProblems({ question: '\u0000' })).toEqual(['question: NUL character at position 0']);
  });

  it('finds a lone high surrogate, a lone low surrogate and a reversed pair', () => {
    expect(queryTextProblems({ question: 'ok', phrases: ['a', 'b', 'cd\ud800e'] }, { ...DEFAULT_TEXT_LIMITS })).toEqual([
      'phrases[2]: unpaired surrogate U+D800 at position 2',
    ]);
    expect(queryTextProblems({ question: 'tail \ud83d' })).toEqual(['question: unpaired surrogate U+D83D at position 5']);
    expect(queryTextProblems({ question: 'x\udc00' })).toEqual(['question: unpaired surrogate U+DC00 at position 1']);
    expect(queryTextProblems({ question: 'q', program: '\ude00\ud83d' })).toEqual(['program: unpaired surrogate U+DE00 at position 0']);
    // Positions count code points: the emoji before the NUL is one character.
    expect(queryTextProblems({ question: '🐶\u0000' })).toEqual(['question: NUL character at position 1']);
  });

  it('names the limit and its config key when text is too long or there are too many phrases', () => {
    expect(queryTextProblems({ question: 'x'.repeat(5123) }, DEFAULT_TEXT_LIMITS, 'nodes.plan.limits')).toEqual([
      'question: 5123 characters, more than the limit of 4000 (nodes.plan.limits.maxQuestionChars)',
    ]);
    expect(queryTextProblems({ question: 'x'.repeat(10), phrases: ['a', 'b', 'c'], program: '123456789' }, limits, 'L')).toEqual([
      'phrases: 3 phrases, more than the limit of 2 (L.maxPhrases)',
      'program: 9 characters, more than the limit of 8 (L.maxProgramChars)',
    ]);
    expect(queryTextProblems({ question: 'q', phrases: ['abcdef'] }, limits, 'L')).toEqual([
      'phrases[0]: 6 characters, more than the limit of 5 (L.maxPhraseChars)',
    ]);
  });

  it('reports a bad character before a length, and lists at most ten problems', () => {
    expect(queryTextProblems({ question: 'x'.repeat(20) + '\u0000' }, limits)).toEqual(['question: NUL character at position 20']);
    const many = queryTextProblems({ question: 'q', phrases: Array.from({ length: 30 }, () => '\u0000') }, DEFAULT_TEXT_LIMITS);
    expect(many).toHaveLength(11);
    expect(many[0]).toBe('phrases[0]: NUL character at position 0');
    expect(many[10]).toBe('and 20 more');
  });
});

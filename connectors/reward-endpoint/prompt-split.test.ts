import { splitQuery } from './prompt-split';

describe('splitQuery: the format gate must see the response only', () => {
  // A system prompt that explains the format, with empty example blocks in it.
  const PROMPT =
    '<|im_start|>system\nWrite the plan in <plan></plan> and the program in <answer></answer>.<|im_end|>\n<|im_start|>user\nIs the mug left of the laptop?<|im_end|>\n<|im_start|>assistant\n';
  const RESPONSE = '<plan>1. Find the mug.</plan><answer>final_answer = 1</answer>';

  it('cuts the prompt off exactly, after a BOS, when decoding changed its whitespace, and when it was truncated from the left', () => {
    expect(splitQuery(PROMPT + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'exact' });
    expect(splitQuery('<s>' + PROMPT + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'exact' });
    // A decode that dropped a space before punctuation and turned a newline into a space.
    const decoded = PROMPT.replace(' and the program', '  and the program')
      .replace('system\n', 'system ')
      .replace(' <answer></answer>.', '<answer></answer> .');
    expect(decoded).not.toContain(PROMPT);
    expect(splitQuery(decoded + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'loose' });
    // OpenRLHF keeps the last tokens of a prompt that is too long; the <plan> example survives the cut.
    const tail = PROMPT.slice(25);
    expect(tail).toContain('<plan></plan>');
    expect(splitQuery(tail + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'truncated' });
    // A cut through a multi-byte character can leave a replacement character in front.
    expect(splitQuery('\uFFFD' + tail + RESPONSE, PROMPT)).toEqual({ response: RESPONSE, match: 'truncated' });
  });

  it('keeps a response alone whole (verl, TRL), and never takes a short coincidence for a cut prompt', () => {
    expect(splitQuery(RESPONSE, 'Is the mug left of the laptop?')).toEqual({ response: RESPONSE, match: 'absent' });
    expect(splitQuery(RESPONSE, '')).toEqual({ response: RESPONSE, match: 'absent' });
    // The response starts with the prompt's last words, but fewer than 32 characters of them.
    expect(splitQuery('laptop? <plan>p</plan>', 'Is the mug left of the laptop?').match).toBe('absent');
  });
});

import { detectCallPhrases, programOf, splitPhrases } from './plan';

describe('phrase extraction as the method does it', () => {
  it('takes the single <answer> block, else the first fenced block, else the text', () => {
    expect(programOf('<plan>x</plan><answer>A</answer>')).toBe('A');
    expect(programOf('<answer>A</answer> and <answer>B</answer>\n```python\nP\n```')).toBe('P\n');
    expect(programOf('just code')).toBe('just code');
  });

  it('finds the first string argument of every gd_detect call', () => {
    const prog = [
      'a = gd_detect(img, "red mug, laptop")',
      "b = gd_detect(image_path, 'chair')",
      'c = gd_detect(img_pth, """tall lamp""")',
      'd = gd_detect(crop(img, (1, 2)), "cat")',
      'e = other("dog")',
    ].join('\n');
    expect(detectCallPhrases(prog)).toEqual(['red mug, laptop', 'chair', 'tall lamp', 'cat']);
  });

  it('splits phrases on commas and trims', () => {
    expect(splitPhrases(' red mug ,laptop,, ')).toEqual(['red mug', 'laptop']);
  });
});

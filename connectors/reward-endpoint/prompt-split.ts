// Finding the prompt at the start of a trainer's query, so only the response after it is
// scored. Trainers decode prompt and response together, and a tokenizer can add a BOS,
// change whitespace, or cut a long prompt from the left; each of those is recognised here.

// A tokenizer may put a BOS token (or a few) before the decoded prompt.
const MAX_PREFIX_BEFORE_PROMPT = 64;
// A prompt cut from the left (OpenRLHF keeps the last tokens of a prompt that is too long)
// is recognised from this many characters on, so a response cannot match it by chance.
const MIN_PROMPT_TAIL = 32;
// Characters a cut through a multi-byte character can leave before the prompt's tail.
const MAX_GARBLED_HEAD = 4;

/**
 * How the prompt was found in a query: `exact` (at the start, after at most a BOS's worth of
 * characters), `loose` (the same up to whitespace, as a tokenizer's decode can change it),
 * `truncated` (the query starts with the prompt's tail: the trainer cut the prompt from the
 * left), `absent` (the query is the response alone, as verl and TRL send it; or no prompt).
 */
export type PromptMatch = 'exact' | 'loose' | 'truncated' | 'absent';

const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);

/** End of a whitespace-insensitive match of `prompt` near the start of `query`, or null. */
function looseEnd(query: string, prompt: string): number | null {
  const p = prompt.trim();
  if (!p) return null;
  for (let start = 0; start <= MAX_PREFIX_BEFORE_PROMPT && start < query.length; start++) {
    if (query[start] !== p[0]) continue;
    let i = start;
    let k = 0;
    for (; k < p.length; k++) {
      if (isSpace(p[k])) continue;
      while (isSpace(query[i])) i++;
      if (query[i] !== p[k]) break;
      i++;
    }
    if (k < p.length) continue;
    if (prompt.length > prompt.trimEnd().length) while (isSpace(query[i])) i++;
    return i;
  }
  return null;
}

/** End of the prompt's tail when the query starts with it (the prompt was cut from the left), or null. */
function truncatedEnd(query: string, prompt: string): number | null {
  for (let skip = 0; skip <= MAX_GARBLED_HEAD; skip++) {
    const head = query.slice(skip, skip + MIN_PROMPT_TAIL);
    if (head.length < MIN_PROMPT_TAIL) return null;
    for (let j = prompt.indexOf(head, 1); j >= 0; j = prompt.indexOf(head, j + 1)) {
      if (query.startsWith(prompt.slice(j), skip)) return skip + prompt.length - j;
    }
  }
  return null;
}

/**
 * Splits a query into the prompt and the response that follows it. Only the response goes to
 * the reward node, so the format gate and the judges never see the prompt (a system prompt
 * that explains `<plan>`/`<answer>` must not pass or fail the gate).
 */
export function splitQuery(query: string, prompt: string): { response: string; match: PromptMatch } {
  if (!prompt) return { response: query, match: 'absent' };
  if (query.startsWith(prompt)) return { response: query.slice(prompt.length), match: 'exact' };
  const at = query.indexOf(prompt);
  if (at >= 0 && at <= MAX_PREFIX_BEFORE_PROMPT) return { response: query.slice(at + prompt.length), match: 'exact' };
  const loose = looseEnd(query, prompt);
  if (loose !== null) return { response: query.slice(loose), match: 'loose' };
  const tail = truncatedEnd(query, prompt);
  if (tail !== null) return { response: query.slice(tail), match: 'truncated' };
  return { response: query, match: 'absent' };
}

/** The response part of a query: what follows its prompt, or the whole query when the prompt is not in it. */
export function responseOf(query: string, prompt: string): string {
  return splitQuery(query, prompt).response;
}

/**
 * The detector prompt as VALOR builds it: each phrase list is split on ",", trimmed,
 * inner spaces become "-" (so a multi-word phrase stays one category), the parts are
 * joined with " . ", and GroundingDINO's own preprocessing lowercases and appends ".".
 */
export function buildCaption(phrases: string[]): { caption: string; parts: string[]; labels: string[] } {
  const labels = phrases
    .flatMap((p) => p.split(','))
    .map((p) => p.trim().replace(/\s+/g, ' '))
    .filter((p) => p.length > 0);
  const parts = labels.map((l) => l.replace(/ /g, '-').toLowerCase());
  let caption = parts.join(' . ').toLowerCase().trim();
  if (!caption.endsWith('.')) caption += '.';
  return { caption, parts, labels };
}

/** The phrases of one gd_detect prompt ("a, b"): split on ",", trimmed, empty ones dropped. */
export function splitPhrases(s: string): string[] {
  return s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * Phrase comparison that ignores how the WordPiece decoder spaces punctuation:
 * "red - circle" (decoded tokens) and "red-circle" (prompt part) are the same phrase.
 */
export function normalizePhrase(s: string): string {
  return s
    .toLowerCase()
    .replace(/\s*-\s*/g, '-')
    .replace(/\s+/g, ' ')
    .trim();
}

// The 95% Wilson score interval of a proportion. Review samples are small (tens of boxes),
// where the normal approximation's interval overshoots [0, 1] and collapses to a point at 0
// or n successes; Wilson's stays inside and keeps a width that reflects n.

export interface Proportion {
  /** Successes over trials; null with no trials. */
  rate: number | null;
  low: number | null;
  high: number | null;
}

/** z = 1.96: the two-sided 95% normal quantile. */
export const Z95 = 1.96;

export function wilson(successes: number, trials: number, z = Z95): Proportion {
  if (!(trials > 0)) return { rate: null, low: null, high: null };
  if (successes < 0 || successes > trials) throw new RangeError(`wilson: ${successes} successes of ${trials} trials`);
  const p = successes / trials;
  const z2 = z * z;
  const denom = 1 + z2 / trials;
  const center = (p + z2 / (2 * trials)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  // Clamped: rounding can put an end a hair outside [0, 1] at p = 0 or 1.
  return { rate: p, low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

// The picture of one synthetic image: shapes laid out without overlaps, and the SVG that
// draws each one to fill exactly its box (the box convention is in synthetic-corpus.ts).
import type { Rng } from './synthetic-random';

export const SHAPES = ['circle', 'square', 'triangle', 'star'] as const;
export const COLORS = ['red', 'green', 'blue', 'yellow'] as const;
export type Shape = (typeof SHAPES)[number];
export type Color = (typeof COLORS)[number];

/** Fill colours: saturated and far from the light background and from each other. */
export const COLOR_RGB: Record<Color, readonly [number, number, number]> = {
  red: [220, 38, 38],
  green: [22, 163, 74],
  blue: [37, 99, 235],
  yellow: [234, 179, 8],
};

export type BBox = [number, number, number, number];

export interface PlacedShape {
  shape: Shape;
  color: Color;
  category: string;
  bbox: BBox;
}

// Height/width of a shape's box: triangles are equilateral, stars regular (see starPoints).
const STAR_INNER = 0.45; // inner/outer radius; fatter than a pentagram so it stays visible when small
const STAR_HALF_W = Math.cos((18 * Math.PI) / 180); // 0.951
const STAR_BOTTOM = Math.sin((54 * Math.PI) / 180); // 0.809
const ASPECT: Record<Shape, number> = {
  circle: 1,
  square: 1,
  triangle: Math.sqrt(3) / 2,
  star: (1 + STAR_BOTTOM) / (2 * STAR_HALF_W),
};

const MARGIN = 4; // keeps boxes off the image edge
const GAP = 8; // minimum clear space between boxes, so a box never contains another shape

function fmt(n: number): string {
  // Fixed precision keeps the SVG (and so the PNG) byte-stable.
  return Number.isInteger(n) ? String(n) : n.toFixed(3);
}

function starPoints([x1, y1, x2, y2]: BBox): string {
  const w = x2 - x1;
  const h = y2 - y1;
  const pts: string[] = [];
  for (let k = 0; k < 10; k++) {
    const angle = ((-90 + k * 36) * Math.PI) / 180;
    const r = k % 2 === 0 ? 1 : STAR_INNER;
    // Map the star's own extent (x in ±0.951, y in -1..0.809) exactly onto the box.
    const u = (r * Math.cos(angle) + STAR_HALF_W) / (2 * STAR_HALF_W);
    const v = (r * Math.sin(angle) + 1) / (1 + STAR_BOTTOM);
    pts.push(`${fmt(x1 + u * w)},${fmt(y1 + v * h)}`);
  }
  return pts.join(' ');
}

function shapeSvg(s: PlacedShape): string {
  const [x1, y1, x2, y2] = s.bbox;
  const [r, g, b] = COLOR_RGB[s.color];
  const fill = `fill="rgb(${r},${g},${b})"`;
  switch (s.shape) {
    case 'circle':
      return `<circle cx="${fmt((x1 + x2) / 2)}" cy="${fmt((y1 + y2) / 2)}" r="${fmt((x2 - x1) / 2)}" ${fill}/>`;
    case 'square':
      return `<rect x="${x1}" y="${y1}" width="${x2 - x1}" height="${y2 - y1}" ${fill}/>`;
    case 'triangle':
      return `<polygon points="${x1},${y2} ${x2},${y2} ${fmt((x1 + x2) / 2)},${y1}" ${fill}/>`;
    case 'star':
      return `<polygon points="${starPoints(s.bbox)}" ${fill}/>`;
  }
}

export function buildSvg(rng: Rng, width: number, height: number, shapes: PlacedShape[]): string {
  // Light, slightly varied background: a gentle gradient (faint noise is added after
  // rasterising, see addBackgroundNoise — SVG feTurbulence was 6x slower).
  const light = () => `rgb(${rng.int(228, 250)},${rng.int(228, 250)},${rng.int(228, 250)})`;
  const c0 = light();
  const c1 = light();
  const angle = rng.int(0, 359);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><linearGradient id="bg" gradientTransform="rotate(${angle} 0.5 0.5)">` +
    `<stop offset="0" stop-color="${c0}"/><stop offset="1" stop-color="${c1}"/></linearGradient></defs>` +
    `<rect width="${width}" height="${height}" fill="url(#bg)"/>` +
    shapes.map(shapeSvg).join('') +
    `</svg>`
  );
}

function overlaps(a: BBox, b: BBox, gap: number): boolean {
  return a[0] < b[2] + gap && b[0] < a[2] + gap && a[1] < b[3] + gap && b[1] < a[3] + gap;
}

export function layout(rng: Rng, width: number, height: number): PlacedShape[] {
  const n = rng.int(2, 5);
  const categories = rng.shuffle(SHAPES.flatMap((shape) => COLORS.map((color) => ({ shape, color }))));
  const minDim = Math.min(width, height);
  const placed: PlacedShape[] = [];
  // Categories are distinct within an image so "the red circle" always names one object.
  for (const { shape, color } of categories.slice(0, n)) {
    let maxSize = Math.max(20, Math.round(minDim * 0.3));
    const minSize = Math.max(16, Math.round(minDim * 0.12));
    let done = false;
    for (let attempt = 0; attempt < 300 && !done; attempt++) {
      if (attempt > 0 && attempt % 100 === 0) maxSize = Math.max(minSize, Math.round(maxSize * 0.7));
      const w = rng.int(minSize, maxSize);
      const h = Math.max(8, Math.round(w * ASPECT[shape]));
      if (w + 2 * MARGIN > width || h + 2 * MARGIN > height) continue;
      const x1 = rng.int(MARGIN, width - MARGIN - w);
      const y1 = rng.int(MARGIN, height - MARGIN - h);
      const bbox: BBox = [x1, y1, x1 + w, y1 + h];
      if (placed.some((p) => overlaps(p.bbox, bbox, GAP))) continue;
      placed.push({ shape, color, category: `${color} ${shape}`, bbox });
      done = true;
    }
  }
  return placed;
}

// The compact index the review server pages from. A merged training set can hold 100,000
// records and more, so the server keeps no record in memory: per record only the byte range
// of its line in the merged file and, as small ints, the (category, status/stage) tags of its
// boxes and its verifier versions. Filters run over these arrays; a page reads its lines
// from the file by offset.

/** Box-level filters: a record matches when one of its boxes matches them all. */
export interface IndexFilter {
  /** A category id; -1 any; -2 a category the index has never seen (nothing matches). */
  category: number;
  status: 'any' | 'accepted' | 'rejected';
  /** 0 any, 1..3 COARSE, CROP, FINAL. */
  stage: number;
  /** A version id; -1 any; -2 unknown. */
  version: number;
}

/** A growable Int32Array: tags and versions of every record, side by side. */
class Pool {
  data = new Int32Array(1 << 16);
  length = 0;
  push(values: readonly number[]): number {
    const at = this.length;
    if (at + values.length > this.data.length) {
      const next = new Int32Array(Math.max(this.data.length * 2, at + values.length));
      next.set(this.data.subarray(0, at));
      this.data = next;
    }
    this.data.set(values, at);
    this.length += values.length;
    return at;
  }
}

/** A 32-bit integer hash that is a bijection (xorshift-multiply, as in murmur3's finaliser). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

export class ReviewIndex {
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  /** Into `pool`: the record's tags, then its version ids. */
  private starts = new Uint32Array(1024);
  private tagCounts = new Uint16Array(1024);
  private versionCounts = new Uint16Array(1024);
  private readonly pool = new Pool();
  private n = 0;
  readonly categories: string[] = [];
  readonly versions: string[] = [];
  private readonly categoryIds = new Map<string, number>();
  private readonly versionIds = new Map<string, number>();
  private audit: { seed: number; order: Uint32Array } | null = null;

  get size(): number {
    return this.n;
  }

  categoryId(name: string, add = true): number {
    let id = this.categoryIds.get(name);
    if (id === undefined && add) {
      id = this.categories.push(name) - 1;
      this.categoryIds.set(name, id);
    }
    return id ?? -2;
  }

  versionId(name: string, add = true): number {
    let id = this.versionIds.get(name);
    if (id === undefined && add) {
      id = this.versions.push(name) - 1;
      this.versionIds.set(name, id);
    }
    return id ?? -2;
  }

  /** Appends a record; returns its index. */
  add(offset: number, length: number, tags: readonly number[], versions: readonly number[]): number {
    if (this.n === this.offsets.length) this.grow();
    const i = this.n++;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.set(i, tags, versions);
    this.audit = null;
    return i;
  }

  /** Replaces a record's tags (after a verdict changed its boxes); the old ones are left unused in the pool. */
  set(i: number, tags: readonly number[], versions: readonly number[]): void {
    const t = [...new Set(tags)];
    this.starts[i] = this.pool.push([...t, ...versions]);
    this.tagCounts[i] = t.length;
    this.versionCounts[i] = versions.length;
  }

  line(i: number): { offset: number; length: number } {
    if (!(i >= 0 && i < this.n)) throw new RangeError(`no record ${i}`);
    return { offset: this.offsets[i]!, length: this.lengths[i]! };
  }

  matches(i: number, f: IndexFilter): boolean {
    if (f.category === -2 || f.version === -2) return false;
    const d = this.pool.data;
    const start = this.starts[i]!;
    const tags = this.tagCounts[i]!;
    if (f.version >= 0) {
      let found = false;
      for (let j = start + tags, end = j + this.versionCounts[i]!; j < end && !found; j++) found = d[j] === f.version;
      if (!found) return false;
    }
    if (f.category < 0 && f.status === 'any' && f.stage === 0) return true;
    for (let j = start, end = start + tags; j < end; j++) {
      const tag = d[j]!;
      const code = tag & 7;
      if (f.category >= 0 && tag >> 3 !== f.category) continue;
      if (f.status === 'accepted' && code !== 0) continue;
      if (f.status === 'rejected' && code === 0) continue;
      if (f.stage > 0 && code !== f.stage) continue;
      return true;
    }
    return false;
  }

  /** Matching indices, in file order (by filename), or in the audit order of `seed`. */
  filter(f: IndexFilter, auditSeed?: number): Uint32Array {
    const order = auditSeed === undefined ? null : this.auditOrder(auditSeed);
    const out = new Uint32Array(this.n);
    let k = 0;
    for (let j = 0; j < this.n; j++) {
      const i = order ? order[j]! : j;
      if (this.matches(i, f)) out[k++] = i;
    }
    return out.subarray(0, k);
  }

  /**
   * Every index, ordered by a keyed bijective hash of it: a pseudo-random permutation fixed by
   * the seed. The relative order of two records never depends on the filters, so the audit
   * sample of a filter is the permutation restricted to it, and its first k records are a
   * uniform sample of the filtered set whichever records a review changes.
   */
  auditOrder(seed: number): Uint32Array {
    if (this.audit?.seed === seed) return this.audit.order;
    const s1 = mix32(seed ^ 0x9e3779b9);
    const s2 = mix32(s1 ^ 0x85ebca6b);
    const keys = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) keys[i] = mix32(mix32((i ^ s1) >>> 0) ^ s2);
    const order = Uint32Array.from({ length: this.n }, (_, i) => i).sort((a, b) => keys[a]! - keys[b]!);
    this.audit = { seed, order };
    return order;
  }

  private grow(): void {
    const size = this.offsets.length * 2;
    const grow = <T extends Float64Array | Uint32Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const b = make(size);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets, (n) => new Float64Array(n));
    this.lengths = grow(this.lengths, (n) => new Uint32Array(n));
    this.starts = grow(this.starts, (n) => new Uint32Array(n));
    this.tagCounts = grow(this.tagCounts, (n) => new Uint16Array(n));
    this.versionCounts = grow(this.versionCounts, (n) => new Uint16Array(n));
  }
}

// Lines of a file read through an open descriptor, in large sequential reads, with the byte
// offset of each: what the review index is built from and the text filter scans.
import type * as fs from 'node:fs';

const CHUNK = 1 << 22;

/** Calls `each` with every non-empty line (bytes without the newline), its offset and its 1-based line number. */
export async function forEachLine(fh: fs.promises.FileHandle, each: (offset: number, bytes: Buffer, lineNo: number) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  let rest = Buffer.alloc(0);
  let pos = 0;
  let lineNo = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (!bytesRead) break;
    // Split bytes, not text: a UTF-8 character may straddle two reads.
    const data = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    const base = pos - rest.length;
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      lineNo++;
      if (nl > start) each(base + start, data.subarray(start, nl), lineNo);
      start = nl + 1;
    }
    rest = Buffer.from(data.subarray(start)); // a copy: `buf` is reused by the next read
    pos += bytesRead;
  }
  if (rest.length) each(pos - rest.length, rest, lineNo + 1);
}

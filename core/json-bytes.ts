// Decoded Avro values hold bytes as Buffers, which JSON.stringify spells as a list of
// numbers. As JSON they are `{"base64": "..."}` instead: one short line per record for the
// topic dumps and `tail`, and values that come back as Buffers where they are parsed again
// (records a node parks in its state).

/** JSON.stringify replacer: a Buffer becomes `{ base64 }`. */
export function bytesAsBase64(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return { base64: Buffer.from((v as { data: number[] }).data).toString('base64') };
  }
  return v;
}

/** JSON.parse reviver undoing bytesAsBase64: an object whose only key is `base64` becomes a Buffer. */
export function base64AsBytes(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const keys = Object.keys(v);
    const b64 = (v as { base64?: unknown }).base64;
    if (keys.length === 1 && typeof b64 === 'string') return Buffer.from(b64, 'base64');
  }
  return v;
}

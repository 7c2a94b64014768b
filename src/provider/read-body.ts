/**
 * Reads a response body of at most `maxBytes`, stopping (and cancelling the rest) as soon as it is
 * longer: a hostile or broken endpoint cannot make the process buffer more than that. Returns the
 * body as text, or `undefined` when it is too long.
 */
export async function readLimited(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? NaN);
  const reader = response.body?.getReader();
  if (!reader) return '';
  try {
    if (declared > maxBytes) return undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if ((size += value.length) > maxBytes) return undefined;
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    reader.cancel().catch(() => {});
  }
}

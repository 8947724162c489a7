// RFC 8785 (JCS): the canonical bytes of a JSON value, which the ledger's leaf hashes cover.
// Object keys sort by UTF-16 code units (JavaScript's own string order), numbers and strings
// serialise as ECMAScript's JSON.stringify does, which is what the RFC specifies.

/** The canonical JSON text of `value`. */
export function canonicalize(value) {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new Error('JCS cannot carry a non-finite number');
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(',')}}`;
}

/** The canonical bytes (UTF-8) of `value`. */
export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalize(value));
}

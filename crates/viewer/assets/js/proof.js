// The ledger's cryptography, in the browser: RFC 9162 Merkle hashes (0x00 before a leaf,
// 0x01 before two children) with WebCrypto's SHA-256, inclusion and consistency proofs as the
// RFC's section 2.1 verifies them, and C2SP signed notes with Ed25519 (https://c2sp.org/signed-note,
// https://c2sp.org/tlog-checkpoint), checked against a verification key the viewer pinned.

/** Bytes from standard padded base64. */
export function fromBase64(text) {
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** Standard padded base64 of bytes. */
export function toBase64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

/** Bytes from hex. */
export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error('not hex');
  return Uint8Array.from(text.match(/../g) || [], (b) => parseInt(b, 16));
}

/** Whether two byte arrays are equal. */
export function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** SHA-256 of bytes. */
export async function sha256(bytes) {
  if (!crypto.subtle) {
    throw new Error('this page is not a secure context (HTTPS or localhost), so the browser ' +
      'offers no WebCrypto to check proofs with');
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

/** A leaf's hash: SHA-256(0x00 || bytes). */
export function leafHash(bytes) {
  return sha256(concat(Uint8Array.of(0), bytes));
}

/** An interior node's hash: SHA-256(0x01 || left || right). */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function hashes32(hashes) {
  if (hashes.some((x) => x.length !== 32)) throw new Error('a hash is not 32 bytes');
}

/**
 * The root an inclusion proof leads to (RFC 9162 2.1.3.2), or an Error saying why the proof
 * cannot be one for leaf `index` of a tree of `size`.
 */
export async function rootFromInclusion(index, size, leaf, path) {
  hashes32([leaf, ...path]);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error(`leaf ${index} is beyond a tree of ${size}`);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new Error('the proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the proof is shorter than the tree is deep');
  return r;
}

/**
 * Checks that a tree of `second` leaves with root `secondRoot` extends the tree of `first`
 * leaves with root `firstRoot` (RFC 9162 2.1.4.2); throws an Error saying why not.
 */
export async function checkConsistency(first, second, firstRoot, secondRoot, path) {
  hashes32(path);
  if (first === 0) throw new Error('there is no consistency proof from an empty tree');
  if (first > second) throw new Error(`the older tree (${first}) is larger than the newer (${second})`);
  if (first === second) {
    if (path.length !== 0) throw new Error('a proof between equal sizes must be empty');
    if (!equal(firstRoot, secondRoot)) throw new Error('the same size has two different roots');
    return;
  }
  if (path.length === 0) throw new Error('the consistency proof is empty');
  let fn = BigInt(first) - 1n;
  let sn = BigInt(second) - 1n;
  const hashes = (BigInt(first) & (BigInt(first) - 1n)) === 0n ? [firstRoot, ...path] : [...path];
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = hashes[0];
  let sr = hashes[0];
  for (const c of hashes.slice(1)) {
    if (sn === 0n) throw new Error('the consistency proof is too long');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('the consistency proof is too short');
  if (!equal(fr, firstRoot)) throw new Error('the proof does not lead to the older root');
  if (!equal(sr, secondRoot)) throw new Error('the proof does not lead to the newer root');
}

/** A C2SP vkey (`name+keyid+base64(0x01 || key)`), checked: its name, id and public key. */
export async function parseVkey(vkey) {
  const text = vkey.trim();
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  if (first <= 0 || second < 0) throw new Error('a verification key is name+keyid+key');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/i.test(idHex)) throw new Error('the key id is not 8 hex digits');
  let key;
  try {
    key = fromBase64(text.slice(second + 1));
  } catch {
    throw new Error('the key is not base64');
  }
  if (key.length !== 33 || key[0] !== 1) throw new Error('the key is not an Ed25519 key (0x01 and 32 bytes)');
  const id = await keyId(name, key.slice(1));
  if (id !== parseInt(idHex, 16)) throw new Error('the key id does not match the key');
  return { name, id, publicKey: key.slice(1) };
}

async function keyId(name, publicKey) {
  const digest = await sha256(concat(new TextEncoder().encode(`${name}\n`), Uint8Array.of(1), publicKey));
  return new DataView(digest.buffer).getUint32(0);
}

/** A signed note split into its text and signature lines. */
export function splitNote(note) {
  const at = note.lastIndexOf('\n\n');
  if (at < 0) throw new Error('the checkpoint has no signature block');
  const text = note.slice(0, at + 1);
  const signatures = note.slice(at + 2).split('\n').filter((l) => l.length > 0).map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('a signature line is malformed');
    return { name: m[1], bytes: fromBase64(m[2]) };
  });
  return { text, signatures };
}

/** The checkpoint body: origin, size and root. */
export function parseCheckpoint(text) {
  const lines = text.split('\n');
  if (lines.length < 4) throw new Error('a checkpoint has an origin, a size and a root');
  const [origin, sizeLine, rootLine] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new Error('the tree size is not a number');
  const root = fromBase64(rootLine);
  if (root.length !== 32) throw new Error('the root is not 32 bytes');
  return { origin, size: Number(sizeLine), root };
}

/**
 * Opens a signed checkpoint with the pinned key: its signature must verify (other keys'
 * signatures are skipped, a bad one of ours fails), then its body is read.
 */
export async function openCheckpoint(note, vkey) {
  return parseCheckpoint(await openNote(note, vkey));
}

/** The text of a signed note whose signature by `vkey` verifies; throws saying why not. */
export async function openNote(note, vkey) {
  const key = await parseVkey(vkey);
  const { text, signatures } = splitNote(note);
  const ours = signatures.filter((s) => s.name === key.name && s.bytes.length === 68 &&
    new DataView(s.bytes.buffer).getUint32(0) === key.id);
  if (ours.length === 0) throw new Error(`the checkpoint is not signed by ${key.name}, the pinned key`);
  const publicKey = await crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, ['verify']);
  const good = await crypto.subtle.verify({ name: 'Ed25519' }, publicKey, ours[0].bytes.slice(4),
    new TextEncoder().encode(text));
  if (!good) throw new Error(`the checkpoint's signature does not verify against the pinned key ${key.name}`);
  return text;
}

// Checking an event and the log in the browser: each step says what was checked and how it
// came out, so a red result names its reason.

import { json, text } from './api.js';
import { canonicalBytes } from './jcs.js';
import {
  checkConsistency, equal, fromBase64, fromHex, leafHash, openCheckpoint, parseVkey,
  rootFromInclusion, toBase64,
} from './proof.js';

const VKEY = 'trailkeep.vkey.';
const SEEN = 'trailkeep.checkpoint.';

/** The verification key pinned for `tenant` in this browser, or null. */
export function pinnedKey(tenant) {
  return localStorage.getItem(VKEY + tenant);
}

/** Pins `vkey` for `tenant` (checked first). */
export async function pinKey(tenant, vkey) {
  await parseVkey(vkey);
  localStorage.setItem(VKEY + tenant, vkey.trim());
}

/** The key the service says it signs with (to show beside the pinned one, never trusted). */
export function servedKey() {
  return text('/v1/ledger/key');
}

/** The checkpoint this browser saw last for `tenant`: `{size, root (base64), note}` or null. */
export function lastSeen(tenant) {
  try {
    return JSON.parse(localStorage.getItem(SEEN + tenant));
  } catch {
    return null;
  }
}

function remember(tenant, checkpoint, note) {
  const seen = lastSeen(tenant);
  if (!seen || seen.size <= checkpoint.size) {
    localStorage.setItem(SEEN + tenant, JSON.stringify({
      size: checkpoint.size, root: toBase64(checkpoint.root), note,
    }));
  }
}

class Steps {
  constructor() {
    this.list = [];
  }

  pass(label, detail) {
    this.list.push({ label, ok: true, detail });
  }

  fail(label, error) {
    this.list.push({ label, ok: false, detail: error.message || String(error) });
    return { ok: false, steps: this.list };
  }

  done() {
    return { ok: true, steps: this.list };
  }
}

/**
 * Verifies event `id` of `tenant`: its canonical bytes hash to its leaf (or, for a tombstone,
 * the kept leaf hash is the one proved), the inclusion proof leads to the checkpoint's root,
 * and the checkpoint is signed by the pinned key.
 */
export async function verifyEvent(tenant, id) {
  const steps = new Steps();
  const vkey = pinnedKey(tenant);
  if (!vkey) {
    return steps.fail('Verification key', new Error('no key is pinned for this tenant: pin the ' +
      'service\'s key (from `trailkeep key show` or your records) under Ledger first'));
  }
  let answer;
  try {
    answer = await json(`/v1/events/${encodeURIComponent(id)}?proof=1`);
  } catch (e) {
    return steps.fail('Fetch the proof', e);
  }
  const { event } = answer;
  let leaf;
  try {
    const proved = fromBase64(answer.leaf_hash);
    if (event.redaction) {
      leaf = fromHex(event.redaction.leaf_hash);
      if (!equal(leaf, proved)) throw new Error('the tombstone keeps a leaf hash other than the one proved');
      steps.pass('Leaf hash', `a tombstone (${event.redaction.reason}): its fields ` +
        `${event.redaction.removed.join(', ')} are gone, so the kept leaf hash of the whole event is proved`);
    } else {
      leaf = await leafHash(canonicalBytes(event));
      if (!equal(leaf, proved)) {
        throw new Error('the event\'s canonical bytes do not hash to the leaf the proof is for: the event shown is not the one in the ledger');
      }
      steps.pass('Leaf hash', `SHA-256(0x00 || canonical bytes) = ${toBase64(leaf)}`);
    }
  } catch (e) {
    return steps.fail('Leaf hash', e);
  }
  let checkpoint;
  try {
    checkpoint = await openCheckpoint(answer.checkpoint, vkey);
    steps.pass('Checkpoint signature', `signed by the pinned key; ${checkpoint.origin}, ` +
      `${checkpoint.size.toLocaleString('en-US')} events`);
  } catch (e) {
    return steps.fail('Checkpoint signature', e);
  }
  try {
    if (checkpoint.size !== answer.inclusion.tree_size) {
      throw new Error(`the proof is for a tree of ${answer.inclusion.tree_size} events, the checkpoint is of ${checkpoint.size}`);
    }
    const root = await rootFromInclusion(event.seq, checkpoint.size, leaf,
      answer.inclusion.hashes.map(fromBase64));
    if (!equal(root, checkpoint.root)) {
      throw new Error(`the proof leads to root ${toBase64(root)}, but the checkpoint's root is ${toBase64(checkpoint.root)}`);
    }
    steps.pass('Inclusion proof', `seq ${event.seq} is in the tree of ${checkpoint.size.toLocaleString('en-US')} ` +
      `(${answer.inclusion.hashes.length} hashes, RFC 9162)`);
  } catch (e) {
    return steps.fail('Inclusion proof', e);
  }
  try {
    await consistentWithLastSeen(tenant, checkpoint, answer.checkpoint, steps);
  } catch (e) {
    return steps.fail('Consistency with the last checkpoint seen', e);
  }
  return steps.done();
}

async function consistentWithLastSeen(tenant, checkpoint, note, steps) {
  const seen = lastSeen(tenant);
  if (seen && seen.size > 0) {
    const [older, newer, olderRoot, newerRoot] = seen.size <= checkpoint.size
      ? [seen.size, checkpoint.size, fromBase64(seen.root), checkpoint.root]
      : [checkpoint.size, seen.size, checkpoint.root, fromBase64(seen.root)];
    const proof = older === newer
      ? { hashes: [] }
      : await json(`/v1/ledger/proofs/consistency?first=${older}&second=${newer}`);
    await checkConsistency(older, newer, olderRoot, newerRoot, proof.hashes.map(fromBase64));
    steps.pass('Consistency with the last checkpoint seen', `the tree of ${newer.toLocaleString('en-US')} ` +
      `extends the one of ${older.toLocaleString('en-US')} this browser saw before`);
  } else {
    steps.pass('Consistency with the last checkpoint seen', 'this is the first checkpoint this browser has seen for the tenant');
  }
  remember(tenant, checkpoint, note);
}

/**
 * Checks the newest checkpoint: signed by the pinned key, and consistent with the one this
 * browser saw last (which it then remembers).
 */
export async function verifyLog(tenant) {
  const steps = new Steps();
  const vkey = pinnedKey(tenant);
  if (!vkey) return steps.fail('Verification key', new Error('no key is pinned for this tenant'));
  let note;
  let checkpoint;
  try {
    note = await text('/v1/ledger/checkpoint');
    checkpoint = await openCheckpoint(note, vkey);
    steps.pass('Checkpoint signature', `signed by the pinned key; ${checkpoint.origin}, ` +
      `${checkpoint.size.toLocaleString('en-US')} events, root ${toBase64(checkpoint.root)}`);
  } catch (e) {
    return steps.fail('Checkpoint signature', e);
  }
  try {
    await consistentWithLastSeen(tenant, checkpoint, note, steps);
  } catch (e) {
    return steps.fail('Consistency with the last checkpoint seen', e);
  }
  return steps.done();
}

// Checking the log in the browser, with the browser's own SHA-256 and Ed25519 (WebCrypto):
// the checkpoint's signature (C2SP signed note, SPEC section 4), an entry's inclusion proof
// (RFC 9162 section 2.1.3.2), the entry's signature by its author (SPEC section 2), and a
// record's proof in the state map against the checkpoint's `state` line (SPEC section 5).
// Each check throws a VerificationError saying what failed; none returns false.

import { fromBase64, fromHex, hex } from "./util.js";

export class VerificationError extends Error {}

const encoder = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

async function ed25519Verify(publicKey, signature, message) {
  let key;
  try {
    key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    throw new VerificationError(`this browser cannot check Ed25519 signatures (${error.message})`);
  }
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

// --- the verifier key and the checkpoint (C2SP signed-note, tlog-checkpoint) -----------------

/** `<name>+<key id, 8 hex>+<base64(0x01 || public key)>` */
export async function parseVerifierKey(vkey) {
  // The name holds no "+"; the base64 key may.
  const parts = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim());
  if (!parts) throw new VerificationError("the verifier key is not name+id+key");
  const [, name, idHex, keyB64] = parts;
  const raw = fromBase64(keyB64);
  if (raw.length !== 33 || raw[0] !== 0x01) {
    throw new VerificationError("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  }
  const publicKey = raw.slice(1);
  const keyId = (await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a), raw))).slice(0, 4);
  if (hex(keyId) !== idHex) {
    throw new VerificationError(`the verifier key's id ${idHex} does not match its key`);
  }
  return { name, keyId, publicKey };
}

/** Split a signed note into its body and signature lines, and read the checkpoint body. */
export function parseCheckpoint(note) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new VerificationError("the checkpoint has no blank line before signatures");
  const body = note.slice(0, split + 1);
  const lines = body.split("\n");
  if (lines.length < 4) throw new VerificationError("the checkpoint body is too short");
  const [origin, sizeText, rootB64, ...extensions] = lines;
  if (!/^[0-9]+$/.test(sizeText)) throw new VerificationError("the tree size is not a number");
  const root = fromBase64(rootB64);
  if (root.length !== 32) throw new VerificationError("the root hash is not 32 bytes");
  // SPEC section 4: the first `state <base64>` extension line carries the state map's root.
  const stateLine = extensions.find((line) => line.startsWith("state "));
  let stateRoot = null;
  if (stateLine !== undefined) {
    stateRoot = fromBase64(stateLine.slice("state ".length));
    if (stateRoot.length !== 32) throw new VerificationError("the state root is not 32 bytes");
  }
  const signatures = note
    .slice(split + 2)
    .split("\n")
    .filter((line) => line)
    .map((line) => {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new VerificationError(`bad signature line: ${line.slice(0, 40)}`);
      const raw = fromBase64(m[2]);
      return { name: m[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
  return { body, origin, treeSize: Number(sizeText), root, stateRoot, signatures };
}

/** The checkpoint is signed by the log key; returns the parsed checkpoint. */
export async function verifyCheckpoint(note, vkey) {
  const key = await parseVerifierKey(vkey);
  const checkpoint = parseCheckpoint(note);
  const mine = checkpoint.signatures.filter(
    (s) => s.name === key.name && equal(s.keyId, key.keyId),
  );
  if (!mine.length) throw new VerificationError(`no signature by ${key.name} on the checkpoint`);
  for (const s of mine) {
    if (await ed25519Verify(key.publicKey, s.signature, encoder.encode(checkpoint.body))) {
      return checkpoint;
    }
  }
  throw new VerificationError("the checkpoint's signature does not verify with the log key");
}

// --- the tree (RFC 9162) ---------------------------------------------------------------------

export async function leafHash(leafBytes) {
  return sha256(concat(Uint8Array.of(0x00), leafBytes));
}

async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or an error. */
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (index >= size) throw new VerificationError(`leaf ${index} is not in a tree of ${size}`);
  if (leaf.length !== 32) throw new VerificationError("the leaf hash is not 32 bytes");
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const half = (n) => Math.floor(n / 2);
  for (const p of proof) {
    if (p.length !== 32) throw new VerificationError("a proof hash is not 32 bytes");
    if (sn === 0) throw new VerificationError("the proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new VerificationError("the proof is shorter than the tree is deep");
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  if (root.length !== 32) throw new VerificationError("the root hash is not 32 bytes");
  const computed = await rootFromInclusionProof(index, size, leaf, proof);
  if (!equal(computed, root)) {
    throw new VerificationError(
      `the proof leads to root ${hex(computed).slice(0, 16)}…, ` +
        `not the checkpoint's ${hex(root).slice(0, 16)}…`,
    );
  }
}

// --- the entry (SPEC section 2) ----------------------------------------------------------------

/** RFC 8785 for the values entries hold: JSON.stringify's strings and integers, sorted keys. */
export function jcs(value) {
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort(); // sort() compares UTF-16 code units, as JCS does
    return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) {
    throw new VerificationError("entries hold integers only");
  }
  return JSON.stringify(value);
}

/** The entry's id is SHA-256 of JCS(entry) and its sig verifies with its author's key. */
export async function verifyEntry(entry, id) {
  const computed = hex(await sha256(encoder.encode(jcs(entry))));
  if (id !== undefined && computed !== id) {
    throw new VerificationError(`the entry's id is ${computed.slice(0, 16)}…, not ${id.slice(0, 16)}…`);
  }
  const { sig, ...unsigned } = entry;
  const message = encoder.encode("multitude/entry/v1\n" + jcs(unsigned));
  if (!(await ed25519Verify(fromHex(entry.author), fromHex(sig), message))) {
    throw new VerificationError("the entry's signature does not verify with its author's key");
  }
  return computed;
}

// --- the state map (SPEC section 5) -----------------------------------------------------------

const EMPTY = new Uint8Array(32);

/** Bit `i` of a path, most significant first. */
function bit(path, i) {
  return (path[i >> 3] >> (7 - (i & 7))) & 1;
}

/** leaf(k, v) from path(k) and SHA-256(JCS(v)). */
async function stateLeaf(path, valueHash) {
  return sha256(concat(Uint8Array.of(0x02), path, valueHash));
}

/** SHA-256 of a state record's JCS bytes: objects with sorted keys, strings, null, integers. */
export async function stateValueHash(value) {
  return sha256(encoder.encode(jcs(value)));
}

/** SPEC section 5: fold `proof` (the JSON of GET /v1/state/proof) for `key` to `stateRoot`, or
 * throw saying why it does not hold. Returns the proven value (null: the key is proven absent). */
export async function verifyStateProof(proof, key, treeSize, stateRoot) {
  if (stateRoot === null) {
    throw new VerificationError(`the checkpoint of tree size ${treeSize} has no state line`);
  }
  if (proof.key !== key) throw new VerificationError(`the server sent the proof of ${proof.key}, not ${key}`);
  if (proof.tree_size !== treeSize) {
    throw new VerificationError(`the proof is at tree size ${proof.tree_size}, not the checkpoint’s ${treeSize}`);
  }
  if (!Array.isArray(proof.siblings) || !proof.siblings.every((x) => /^[0-9a-f]{64}$/.test(x))) {
    throw new VerificationError("the proof’s siblings are not 32-byte hex hashes");
  }
  if (proof.other && !/^[0-9a-f]{64}$/.test(proof.other.value_hash)) {
    throw new VerificationError("an absence proof’s other value_hash is not a 32-byte hex hash");
  }
  const siblings = proof.siblings.map(fromHex);
  const depth = siblings.length;
  if (depth > 256) throw new VerificationError(`a proof has at most 256 siblings, not ${depth}`);
  const path = await sha256(encoder.encode(key));
  let hashed;
  if (proof.value !== null) {
    if (proof.other) throw new VerificationError("a proof of a present key carries no other record");
    hashed = await stateLeaf(path, await stateValueHash(proof.value));
  } else if (proof.other) {
    const otherPath = await sha256(encoder.encode(proof.other.key));
    const otherHash = fromHex(proof.other.value_hash);
    if (proof.other.key === key) throw new VerificationError("an absence proof’s other record must have another key");
    for (let i = 0; i < depth; i++) {
      if (bit(otherPath, i) !== bit(path, i)) {
        throw new VerificationError(`the other record does not share the first ${depth} bits of the key’s path`);
      }
    }
    hashed = await stateLeaf(otherPath, otherHash);
  } else {
    hashed = EMPTY;
  }
  for (let i = depth - 1; i >= 0; i--) {
    hashed = bit(path, i) ? await nodeStateHash(siblings[i], hashed) : await nodeStateHash(hashed, siblings[i]);
  }
  if (!equal(hashed, stateRoot)) {
    throw new VerificationError(
      `the proof of ${key.slice(0, 23)}… folds to ${hex(hashed).slice(0, 16)}…, ` +
        `not the checkpoint’s state root ${hex(stateRoot).slice(0, 16)}…`,
    );
  }
  return proof.value;
}

async function nodeStateHash(left, right) {
  return sha256(concat(Uint8Array.of(0x03), left, right));
}

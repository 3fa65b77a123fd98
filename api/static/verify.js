// Checking the log in the browser, with the browser's own SHA-256 and Ed25519 (WebCrypto):
// the checkpoint's signature (C2SP signed note, SPEC section 4), an entry's inclusion proof
// (RFC 9162 section 2.1.3.2) and the entry's signature by its author (SPEC section 2).
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
  const [origin, sizeText, rootB64] = lines;
  if (!/^[0-9]+$/.test(sizeText)) throw new VerificationError("the tree size is not a number");
  const root = fromBase64(rootB64);
  if (root.length !== 32) throw new VerificationError("the root hash is not 32 bytes");
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
  return { body, origin, treeSize: Number(sizeText), root, signatures };
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

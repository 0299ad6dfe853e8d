// Per-warehouse digest of the local replica, the same as sync/digest.py computes on the server:
// record count and the XOR of FNV-1a-32 over "id:revision" of every record (tombstones and
// conflict records included). A mismatch means the local copy is wrong: wipe and pull again.

const encoder = new TextEncoder();

export function fnv1a32(text) {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function recordHash(id, revision) {
  return fnv1a32(`${id}:${revision}`);
}

/** records: [{id, revision}] → {count, checksum: "8 hex digits"} */
export function computeDigest(records) {
  let value = 0;
  for (const record of records) value = (value ^ recordHash(record.id, record.revision)) >>> 0;
  return { count: records.length, checksum: value.toString(16).padStart(8, '0') };
}

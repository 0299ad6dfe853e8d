// Decisions as sync mutations: the supervisor page pushes one mutation at a time to
// /api/sync/push, exactly like a phone, so the decision is merged, audited and pulled by phones.
//
// Numbering: the page keeps the next mutation number in its session. If that is behind the server
// (another tab of the same browser pushed meanwhile), the server answers our first attempt with a
// replayed outcome: we jump far ahead, get `409 sequence_gap` with the number it expects, and send
// again with that. A network failure resends the very same mutation, which the server then answers
// (exactly once) with its stored outcome.

import { HybridClock } from '/js/hlc.js';
import { ApiError, NetworkError } from './http.js';
import { saveSession } from './session.js';

const SCHEMA_VERSION = 2;
const FAR_AHEAD = Number.MAX_SAFE_INTEGER;

let queue = Promise.resolve();

export function createPusher(session, http) {
  const clock = new HybridClock(session.clientId, session.clock ?? null);

  function remember(nextSeq) {
    session.nextSeq = nextSeq;
    session.clock = clock.toJSON();
    saveSession(session);
  }

  async function pushOne({ id, collection, op, baseRev = 0, fields = {}, warehouseId }) {
    const mutation = { id, collection, op, base_rev: baseRev, fields, hlc: clock.now(), schema_version: SCHEMA_VERSION };
    if (warehouseId) mutation.warehouse_id = warehouseId;
    let seq = session.nextSeq ?? 1;
    let resend = false;
    for (let attempt = 0; attempt < 6; attempt += 1) {
      let answer;
      try {
        answer = await http.post('/api/sync/push', {
          protocol: 1,
          client_id: session.clientId,
          schema_version: SCHEMA_VERSION,
          mutations: [{ ...mutation, seq }],
        });
      } catch (error) {
        if (error instanceof ApiError && error.code === 'sequence_gap') {
          seq = error.body.expected_seq;
          resend = false;
          continue;
        }
        if (error instanceof NetworkError && attempt < 2) {
          resend = true; // same number, same mutation: answered exactly once
          continue;
        }
        throw error;
      }
      clock.receive(answer.server_hlc);
      const result = answer.results[0];
      if (result.replayed && !resend) {
        seq = FAR_AHEAD; // our number was used already: ask the server which one is next
        continue;
      }
      remember(Math.max(seq, answer.last_seq) + 1);
      return result;
    }
    throw new Error('push: no mutation number accepted');
  }

  /** Push one mutation (serialized with the page's other pushes); resolves to its result. */
  return function push(mutation) {
    const next = queue.then(() => pushOne(mutation));
    queue = next.catch(() => {});
    return next;
  };
}

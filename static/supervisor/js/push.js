// Decisions as sync mutations: the supervisor page pushes one mutation at a time to
// /api/sync/push, exactly like a phone, so the decision is merged, audited and pulled by phones.
//
// Numbering: the page keeps the next mutation number in its session. If that is behind the server
// (another tab of the same browser pushed meanwhile), the server answers our first attempt with a
// replayed outcome: we jump far ahead, get `409 sequence_gap` with the number it expects, and send
// again with that. A network failure resends the very same mutation, which the server then answers
// (exactly once) with its stored outcome.
//
// Clock: like the phones (/js/server-time.js), stamps follow the server's clock, learnt from each
// answer's server_hlc and kept in the session (clockOffset). A computer whose date is far ahead is
// refused `400 clock_ahead` on its first push: the page takes the server's clock from the refusal,
// stamps the mutation again and sends it once more.

import { clockWith, offsetFrom, setOffset } from '/js/server-time.js';
import { ApiError, NetworkError } from './http.js';
import { PROTOCOL, SCHEMA_VERSION } from '/js/protocol.js';
import { saveSession } from './session.js';

const FAR_AHEAD = Number.MAX_SAFE_INTEGER;

let queue = Promise.resolve();

export function createPusher(session, http) {
  let offset = Number.isFinite(session.clockOffset) ? session.clockOffset : null;
  if (offset !== null) setOffset(offset);
  let clock = clockWith(session.clientId, session.clock ?? null, offset);

  /** The server's clock, from an answer: the offset, and a clock that follows its stamp. */
  function learn(answer, arrivedAt, { reset = false } = {}) {
    offset = offsetFrom(answer, arrivedAt);
    setOffset(offset);
    clock = clockWith(session.clientId, clock.toJSON(), offset, { reset });
    clock.receive(answer.server_hlc);
  }

  function remember(nextSeq) {
    session.nextSeq = nextSeq;
    session.clock = { ...clock.toJSON(), offset }; // the offset it runs by (see clockWith)
    session.clockOffset = offset;
    saveSession(session);
  }

  async function pushOne({ id, collection, op, baseRev = 0, fields = {}, warehouseId }) {
    const mutation = { id, collection, op, base_rev: baseRev, fields, hlc: clock.now(), schema_version: SCHEMA_VERSION };
    if (warehouseId) mutation.warehouse_id = warehouseId;
    let seq = session.nextSeq ?? 1;
    let resend = false;
    let restamped = false;
    for (let attempt = 0; attempt < 6; attempt += 1) {
      let answer;
      try {
        answer = await http.post('/api/sync/push', {
          protocol: PROTOCOL,
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
        if (error instanceof ApiError && error.code === 'clock_ahead' && !restamped && error.body.server_hlc) {
          restamped = true; // nothing was applied: the same number, stamped by the server's clock
          learn(error.body, Date.now(), { reset: true });
          mutation.hlc = clock.now();
          continue;
        }
        if (error instanceof NetworkError && attempt < 2) {
          resend = true; // same number, same mutation: answered exactly once
          continue;
        }
        throw error;
      }
      learn(answer, Date.now());
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

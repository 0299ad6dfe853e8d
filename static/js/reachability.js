// Whether the server answers. navigator.onLine is a hint: a phone on a warehouse Wi-Fi with no
// uplink, behind a captive portal or with one bar and no data ("lie-fi") says online all the same.
// So reachability is decided from real request outcomes (api.js tells every one of them), and,
// when a request hangs or something waits, from a cheap probe (GET /healthz, short timeout). The
// `online`/`offline` events only bring the next probe forward (sync-client.js); they never decide.
//
//   online       the server answered the last request or probe
//   offline      requests fail at once: no network at all (airplane mode, no signal, refused)
//   unreachable  a network, but the server does not answer: requests time out or hang, or the
//                answer is not our server's (captive portal, a proxy's error page, 5xx)
//   unknown      nothing asked yet since the app started

/** A failure faster than this, with no answer at all, means no network rather than a slow one. */
export const FAST_FAILURE_MS = 1500;

export class Reachability extends EventTarget {
  constructor(now = Date.now) {
    super();
    this.now = now;
    this.state = 'unknown';
    this.since = now();
    this.lastAnswerAt = 0;
    this.lastActivityAt = 0;
  }

  get reachable() {
    return this.state === 'online';
  }

  /** One outcome from api.js's observer. */
  note(outcome) {
    const at = this.now();
    if (outcome.activity) {
      this.lastActivityAt = at;
      return;
    }
    if (outcome.answered) {
      this.lastAnswerAt = at;
      this.lastActivityAt = at;
      // A 5xx with our JSON body: the server answers but cannot do the work now.
      this.set(outcome.status >= 500 ? 'unreachable' : 'online');
      return;
    }
    const { error } = outcome;
    if (error?.kind === 'aborted') return; // we gave up on it ourselves: says nothing
    this.set(classify(error, globalThis.navigator?.onLine !== false));
  }

  set(state) {
    if (state === this.state) return;
    this.state = state;
    this.since = this.now();
    this.dispatchEvent(new Event('change'));
  }
}

/** A failed request → 'offline' or 'unreachable'. */
export function classify(error, browserSaysOnline = true) {
  if (!browserSaysOnline) return 'offline';
  if (error?.kind === 'failed' && error.elapsedMs < FAST_FAILURE_MS) return 'offline';
  return 'unreachable';
}

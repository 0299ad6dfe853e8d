// Hybrid logical clock: a port of sync/clock.py.
//
// A stamp is "<13-digit ms>-<5-digit counter>-<node>", so stamps compare correctly as strings.
// The clock never goes backwards, even when the phone's wall clock is wrong: a stamp received
// from a clock that runs ahead (the server's) pulls ours forward.

export const MAX_COUNTER = 99_999;

export function formatHlc(ms, counter, node) {
  return `${String(ms).padStart(13, '0')}-${String(counter).padStart(5, '0')}-${node}`;
}

export function parseHlc(stamp) {
  const first = stamp.indexOf('-');
  const second = stamp.indexOf('-', first + 1);
  return [Number(stamp.slice(0, first)), Number(stamp.slice(first + 1, second)), stamp.slice(second + 1)];
}

export class HybridClock {
  /** state: {ms, counter} as saved by toJSON(), so the clock survives a reload. */
  constructor(node, state = null, wall = () => Date.now()) {
    this.node = node;
    this.wall = wall;
    this.ms = state?.ms ?? 0;
    this.counter = state?.counter ?? 0;
  }

  /** A stamp for a local event, later than every stamp issued or received so far. */
  now() {
    const wall = this.wall();
    if (wall > this.ms) {
      this.ms = wall;
      this.counter = 0;
    } else {
      this.tick();
    }
    return formatHlc(this.ms, this.counter, this.node);
  }

  /** Merge a remote stamp; returns a local stamp later than both. */
  receive(stamp) {
    const [remoteMs, remoteCounter] = parseHlc(stamp);
    const wall = this.wall();
    if (wall > this.ms && wall > remoteMs) {
      this.ms = wall;
      this.counter = 0;
    } else if (remoteMs > this.ms) {
      this.ms = remoteMs;
      this.counter = remoteCounter;
      this.tick();
    } else if (remoteMs === this.ms) {
      this.counter = Math.max(this.counter, remoteCounter);
      this.tick();
    } else {
      this.tick();
    }
    return formatHlc(this.ms, this.counter, this.node);
  }

  tick() {
    if (this.counter >= MAX_COUNTER) {
      // Counter exhausted within one millisecond: borrow the next millisecond.
      this.ms += 1;
      this.counter = 0;
    } else {
      this.counter += 1;
    }
  }

  toJSON() {
    return { ms: this.ms, counter: this.counter };
  }
}

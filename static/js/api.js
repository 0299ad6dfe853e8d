// The HTTP API, as plain functions over fetch. Works in pages and in the service worker.
//
// Errors: ApiError for an answer with a 4xx/5xx status (the server's {code, message} attached),
// NetworkError when no answer came (offline, timeout, connection dropped). Only NetworkError
// and 5xx are worth retrying.
//
// Every outcome is also told to an observer (`api.observe(fn)`): fn({ answered: true }) when our
// server answered (any status with its JSON error body counts), fn({ answered: false, error })
// when it did not, fn({ activity: true }) when bytes of an answer arrive. The sync client decides
// from these whether the server is reachable (reachability.js).

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body?.code || `http_${status}`;
    this.body = body ?? {};
  }
  get retryable() {
    return this.status >= 500 || this.status === 429;
  }
}

export class NetworkError extends Error {
  /**
   * kind: 'timeout' (no answer in time), 'aborted' (given up on: stuck), 'failed' (the request
   * failed outright: no network, refused, reset), 'garbled' (an answer that is not our server's:
   * a captive portal's page, a body cut off). elapsedMs: how long it took to fail.
   */
  constructor(cause, { kind = 'failed', elapsedMs = 0 } = {}) {
    super(cause?.message || 'network error');
    this.name = 'NetworkError';
    this.retryable = true;
    this.kind = kind;
    this.elapsedMs = elapsedMs;
  }
}

/** Answers at least this large (or of unknown length) are read piece by piece. */
const STREAM_ABOVE_BYTES = 64 * 1024;

/**
 * The body as JSON. A large one is read piece by piece so a slow download still shows it is alive;
 * a small one (pushes, uploads, probes) in one go, as the browser's own tools expect to see it.
 */
async function readJson(response, onBytes) {
  const length = Number(response.headers.get('Content-Length'));
  if (!response.body?.getReader || (length > 0 && length < STREAM_ABOVE_BYTES)) return response.json();
  const reader = response.body.getReader();
  const pieces = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pieces.push(value);
    size += value.length;
    onBytes();
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const piece of pieces) {
    all.set(piece, at);
    at += piece.length;
  }
  return JSON.parse(new TextDecoder().decode(all));
}

export function createApi(token, { timeoutMs = 45_000 } = {}) {
  let observer = () => {};
  const inFlight = new Set();
  const tell = (outcome) => {
    try {
      observer(outcome);
    } catch (error) {
      console.warn('api observer', error);
    }
  };

  async function request(method, path, { json, body, contentType, headers: extra = {}, raw = false, timeout = timeoutMs, signal } = {}) {
    const headers = { ...extra };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    const controller = new AbortController();
    // The caller may give up too (kind 'aborted', like abortAll).
    if (signal?.aborted) controller.abort();
    signal?.addEventListener('abort', () => controller.abort(), { once: true });
    const started = Date.now();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const entry = { controller, started, lastActivity: started, bytes: body?.size ?? body?.length ?? 0 };
    inFlight.add(entry);
    const activity = () => {
      entry.lastActivity = Date.now();
      tell({ activity: true });
    };
    const failure = (error, kind) => {
      const failed = new NetworkError(error, {
        kind: kind ?? (timedOut ? 'timeout' : controller.signal.aborted ? 'aborted' : 'failed'),
        elapsedMs: Date.now() - started,
      });
      tell({ answered: false, error: failed });
      return failed;
    };
    try {
      let response;
      try {
        response = await fetch(path, { method, headers, body, signal: controller.signal, cache: 'no-store' });
      } catch (error) {
        throw failure(error);
      }
      activity();
      if (!response.ok) {
        let payload = null;
        try {
          payload = await response.json();
        } catch {
          /* not JSON */
        }
        // Our server always answers errors as JSON with a code; anything else is not our server
        // (a captive portal, a proxy's error page).
        if (payload?.code) tell({ answered: true, status: response.status });
        else tell({ answered: false, error: new NetworkError(null, { kind: 'garbled', elapsedMs: Date.now() - started }) });
        throw new ApiError(response.status, payload);
      }
      if (raw) {
        tell({ answered: true, status: response.status });
        return response;
      }
      if (response.status === 204) {
        tell({ answered: true, status: 204 });
        return null;
      }
      let parsed;
      try {
        parsed = await readJson(response, activity);
      } catch (error) {
        throw failure(error, controller.signal.aborted ? undefined : 'garbled'); // cut off, or not JSON
      }
      tell({ answered: true, status: response.status });
      return parsed;
    } finally {
      clearTimeout(timer);
      inFlight.delete(entry);
    }
  }

  return {
    /** Tell fn every request's outcome (one observer: the sync client's reachability). */
    observe: (fn) => {
      observer = fn;
    },
    /** Give up on every request in flight (they fail with NetworkError kind 'aborted'). */
    abortAll: () => {
      for (const { controller } of inFlight) controller.abort();
    },
    /** Requests under way: [{started, lastActivity, bytes (of the body sent)}]. */
    inFlight: () => [...inFlight].map(({ started, lastActivity, bytes }) => ({ started, lastActivity, bytes })),
    /** A cheap question to the server: does it answer? Resolves true/false, never throws. */
    probe: async (timeout = 2500) => {
      try {
        const answer = await request('GET', '/healthz', { timeout });
        return answer?.status === 'ok';
      } catch {
        return false;
      }
    },
    /** Plain JSON requests (the alert toggle's, static/supervisor/js/notifications.js). */
    http: {
      get: (path) => request('GET', path),
      post: (path, json) => request('POST', path, { json }),
      delete: (path) => request('DELETE', path),
    },
    login: (body) => request('POST', '/api/auth/login', { json: body }),
    logout: () => request('POST', '/api/auth/logout', { json: {} }),
    me: () => request('GET', '/api/me'),
    currentTemplate: () => request('GET', '/api/templates/current'),
    template: (id) => request('GET', `/api/templates/${encodeURIComponent(id)}`),
    stockItems: () => request('GET', '/api/stock-items'),
    colleagues: (warehouseId) =>
      request('GET', `/api/users/colleagues?warehouse_id=${encodeURIComponent(warehouseId)}`),
    push: (body) => request('POST', '/api/sync/push', { json: body }),
    pull: (body) => request('POST', '/api/sync/pull', { json: body }),
    missingAttachments: (hashes) => request('POST', '/api/attachments/missing', { json: { hashes } }),
    putAttachment: (sha, blob) =>
      request('PUT', `/api/attachments/${sha}`, {
        body: blob,
        contentType: blob.type || 'image/jpeg',
        timeout: 120_000,
      }),
    /** One range of a photo's bytes (resumable upload): {stored, size, complete}. */
    putAttachmentRange: (sha, part, start, total, { signal } = {}) =>
      request('PUT', `/api/attachments/${sha}`, {
        body: part,
        contentType: 'application/octet-stream',
        headers: { 'Content-Range': `bytes ${start}-${start + part.size - 1}/${total}` },
        timeout: 60_000,
        signal,
      }),
    /** How many bytes of a photo the server holds, a range in flight included: {stored, size, complete}. */
    uploadStatus: (sha, { timeout, signal } = {}) => request('GET', `/api/attachments/${sha}/upload`, { timeout, signal }),
    attachment: async (sha, thumb = false) => {
      const response = await request('GET', `/api/attachments/${sha}${thumb ? '/thumb' : ''}`, { raw: true });
      return response.blob();
    },
  };
}

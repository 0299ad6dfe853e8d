// The HTTP API, as plain functions over fetch. Works in pages and in the service worker.
//
// Errors: ApiError for an answer with a 4xx/5xx status (the server's {code, message} attached),
// NetworkError when no answer came (offline, timeout, connection dropped). Only NetworkError
// and 5xx are worth retrying.

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
  constructor(cause) {
    super(cause?.message || 'network error');
    this.name = 'NetworkError';
    this.retryable = true;
  }
}

export function createApi(token, { timeoutMs = 45_000 } = {}) {
  async function request(method, path, { json, body, contentType, raw = false, timeout = timeoutMs } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let response;
    try {
      response = await fetch(path, { method, headers, body, signal: controller.signal, cache: 'no-store' });
    } catch (error) {
      throw new NetworkError(error);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      let payload = null;
      try {
        payload = await response.json();
      } catch {
        /* not JSON */
      }
      throw new ApiError(response.status, payload);
    }
    if (raw) return response;
    if (response.status === 204) return null;
    try {
      return await response.json();
    } catch (error) {
      throw new NetworkError(error); // body cut off mid-way
    }
  }

  return {
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
    attachment: async (sha, thumb = false) => {
      const response = await request('GET', `/api/attachments/${sha}${thumb ? '/thumb' : ''}`, { raw: true });
      return response.blob();
    },
  };
}

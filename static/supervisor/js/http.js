// JSON over fetch with the session's bearer token. Errors are the shared ApiError/NetworkError
// of the officer app (/js/api.js), so code can branch on `error.code` the same way.

import { ApiError, NetworkError } from '/js/api.js';

export { ApiError, NetworkError };

export function createHttp(getToken, onUnauthorized = () => {}) {
  async function request(method, path, { json, body, contentType, params, raw = false } = {}) {
    const headers = {};
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    let url = path;
    if (params) {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(params)) {
        for (const v of Array.isArray(value) ? value : [value]) {
          if (v !== undefined && v !== null && v !== '') search.append(key, v);
        }
      }
      if ([...search].length) url += `?${search}`;
    }
    let response;
    try {
      response = await fetch(url, { method, headers, body, cache: 'no-store' });
    } catch (error) {
      throw new NetworkError(error);
    }
    if (!response.ok) {
      let payload = null;
      try {
        payload = await response.json();
      } catch {
        /* not JSON */
      }
      if (response.status === 401 && token) onUnauthorized();
      throw new ApiError(response.status, payload);
    }
    if (raw) return response;
    if (response.status === 204) return null;
    return response.json();
  }

  return {
    request,
    get: (path, params) => request('GET', path, { params }),
    post: (path, json) => request('POST', path, { json }),
    put: (path, json) => request('PUT', path, { json }),
    patch: (path, json) => request('PATCH', path, { json }),
    delete: (path) => request('DELETE', path),
    blob: async (path) => (await request('GET', path, { raw: true })).blob(),
  };
}

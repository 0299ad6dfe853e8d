// Live updates: reads /api/live (server-sent events) with fetch, so the token travels in the
// Authorization header and never in a URL. Revisions are counted per warehouse: the `ready` event
// gives the cursor of each warehouse in scope, every event moves its warehouse's cursor, and a
// reconnection sends the whole map back (POST /api/live/resume): nothing is lost across a dropped
// connection. The server ends the stream with `logout` when the session ends and with `scope` when
// the account's warehouses change.

export function connectLive({ getToken, after, onEvent, onReady = () => {}, onStatus = () => {}, onLogout = () => {}, onScope = () => {} }) {
  let cursors = after ?? null;
  let stopped = false;
  let controller = null;
  let delay = 1000;

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const headers = { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' };
        const resume = cursors !== null;
        if (resume) headers['Content-Type'] = 'application/json';
        const response = await fetch(resume ? '/api/live/resume' : '/api/live', {
          method: resume ? 'POST' : 'GET',
          body: resume ? JSON.stringify({ cursors }) : undefined,
          headers,
          signal: controller.signal,
          cache: 'no-store',
        });
        if (response.status === 401 || response.status === 403) {
          onLogout();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        onStatus('live');
        delay = 1000;
        if (await read(response.body)) return; // logout event
      } catch (error) {
        if (stopped) return;
      }
      onStatus('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const message = parse(block);
        if (!message) continue;
        if (message.event === 'logout') {
          onLogout();
          return true;
        }
        if (message.event === 'scope') {
          // The warehouses this account may see changed: reconnect, and show what it may see now.
          onScope();
          return false;
        }
        if (message.event === 'ready') {
          cursors = JSON.parse(message.data).cursors;
          onReady(cursors);
          continue;
        }
        try {
          const data = JSON.parse(message.data);
          if (cursors && data.warehouse_id) cursors[data.warehouse_id] = Math.max(cursors[data.warehouse_id] ?? 0, data.revision);
          onEvent({ type: message.event, ...data });
        } catch (error) {
          console.warn('live event not handled', error);
        }
      }
    }
  }

  function parse(block) {
    const message = { event: 'message', data: '' };
    let seen = false;
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      seen = true;
      if (field === 'data') message.data += (message.data ? '\n' : '') + value;
      else if (field === 'event') message.event = value;
      else if (field === 'id') message.id = value;
    }
    return seen && (message.data || message.event !== 'message') ? message : null;
  }

  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
    get cursors() {
      return cursors;
    },
  };
}

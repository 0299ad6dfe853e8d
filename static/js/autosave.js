// Saving a form on every change without queueing one mutation per keystroke:
//
//   change(name, value)   writes the value to the drafts store at once (a killed tab loses
//                          nothing), and commits it to the outbox after a short pause in typing;
//   flush()               commits everything still waiting (leaving the page, reloading);
//   recover(fields)       on opening the form, commits draft values that never reached the outbox
//                          (the tab was killed during the pause) and returns them.

import { debouncer } from './dom.js';

export function autosaver(db, draftKey, commit, { delay = 600 } = {}) {
  const waiting = debouncer(delay);

  async function forget(name, value) {
    await db.tx('drafts', 'readwrite', async ({ drafts }) => {
      const draft = await drafts.get(draftKey);
      if (!draft || !(name in draft.fields) || draft.fields[name] !== value) return;
      delete draft.fields[name];
      if (Object.keys(draft.fields).length) await drafts.put(draft);
      else await drafts.delete(draftKey);
    });
  }

  async function remember(name, value) {
    await db.tx('drafts', 'readwrite', async ({ drafts }) => {
      const draft = (await drafts.get(draftKey)) ?? { key: draftKey, fields: {} };
      draft.fields[name] = value;
      draft.at = Date.now();
      await drafts.put(draft);
    });
  }

  return {
    /** A field changed. Typing (debounce: true) waits for a pause; a tap commits at once. */
    change(name, value, { debounce = false } = {}) {
      const run = async () => {
        await commit(name, value);
        await forget(name, value);
      };
      if (!debounce) return run();
      const saved = remember(name, value);
      waiting.run(name, () => saved.then(run));
      return saved;
    },

    flush() {
      return waiting.flush();
    },

    /** Commit draft values that differ from `fields`; returns {name: value} of those. */
    async recover(fields) {
      const draft = await db.get('drafts', draftKey);
      const recovered = {};
      for (const [name, value] of Object.entries(draft?.fields ?? {})) {
        if (JSON.stringify(fields[name]) !== JSON.stringify(value)) {
          await commit(name, value);
          recovered[name] = value;
        }
      }
      await db.delete('drafts', draftKey);
      return recovered;
    },
  };
}

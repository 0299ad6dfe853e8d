// Building DOM without a framework: h('button', {class: 'primary', on: {click}}, t('save')).
// Text always goes in as text nodes, never as HTML, and no inline handlers or style strings,
// so the strict Content-Security-Policy holds.

const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'multiple', 'required', 'readOnly']);

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = Array.isArray(value) ? value.flat(Infinity).filter(Boolean).join(' ') : value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'on') for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (PROPERTIES.has(name)) el[name] = value;
    else el.setAttribute(name === 'htmlFor' ? 'for' : name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** A unique element id, for label/aria wiring. */
export function uniqueId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Debounce per key, with a way to run everything waiting right now (before leaving a page). */
export function debouncer(delay) {
  const waiting = new Map();
  return {
    run(key, fn) {
      clearTimeout(waiting.get(key)?.timer);
      waiting.set(key, { fn, timer: setTimeout(() => { waiting.delete(key); fn(); }, delay) });
    },
    /** Run everything still waiting now; resolves when all of it has finished. */
    flush() {
      const all = [...waiting.values()];
      waiting.clear();
      return Promise.all(
        all.map(({ fn, timer }) => {
          clearTimeout(timer);
          return fn();
        }),
      );
    },
  };
}

export type Child = Node | string | number | null | undefined | false;

type AttrValue = string | number | boolean | null | undefined;
type Attrs = Record<string, AttrValue | ((event: Event) => void)>;

/**
 * Creates an element. Strings become text nodes, never markup: user text cannot inject HTML.
 * `onclick`-style keys with a function add listeners; `false`, null and undefined attributes are
 * left out, `true` sets an empty one.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** The element with `data-testid="id"`; a missing one is a bug in index.html. */
export function byTestId<T extends HTMLElement = HTMLElement>(
  id: string,
  root: ParentNode = document,
): T {
  const el = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) {
    throw new TypeError(`index.html lacks [data-testid="${id}"]`);
  }
  return el;
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return '';
  }
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return sameDay
    ? time
    : `${date.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

export function formatLastSeen(iso: string | null | undefined): string {
  return iso ? `last seen ${formatTime(iso)}` : 'offline';
}

/**
 * User-provided text (names, bodies, status lines), isolated in a <bdi>: bidi override and
 * embedding characters inside it cannot reorder the text around it.
 */
export function userText(text: string, attrs: Attrs = {}): HTMLElement {
  return h('bdi', attrs, text);
}

/**
 * A display name followed by the @username: display names are not unique, so the username is
 * what tells two "Alice"s apart.
 */
export function nameTag(
  displayName: string,
  username: string | undefined,
  attrs: Attrs = {},
): HTMLElement {
  const extra = typeof attrs.class === 'string' ? ` ${attrs.class}` : '';
  return h(
    'span',
    { ...attrs, class: `name-tag${extra}` },
    userText(displayName, { class: 'name' }),
    username !== undefined &&
      h('span', { class: 'handle muted', 'data-testid': 'username' }, '@', userText(username)),
  );
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

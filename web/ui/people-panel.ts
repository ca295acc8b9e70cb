import { isAtlasApiError, type PublicUser } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { byTestId, formatLastSeen, h, replaceChildren } from './dom.ts';

const SEARCH_DEBOUNCE_MS = 250;

/** Friends: search by username prefix, requests in and out, the friend list with presence. */
export function createPeoplePanel(ctx: AppContext, onMessage: (userId: string) => void) {
  const search = byTestId<HTMLInputElement>('user-search');
  const results = byTestId<HTMLUListElement>('search-results');
  const requests = byTestId<HTMLUListElement>('friend-requests');
  const friends = byTestId<HTMLUListElement>('friend-list');
  const empty = byTestId('friend-list-empty');
  const error = byTestId('people-error');
  let found: PublicUser[] = [];
  let searchTimer: ReturnType<typeof setTimeout> | undefined;
  let searchSeq = 0;

  async function act(work: () => Promise<unknown>): Promise<void> {
    error.textContent = '';
    try {
      await work();
      await ctx.loadContacts();
    } catch (failure) {
      const code = isAtlasApiError(failure) ? failure.code : 'network_error';
      error.textContent = `That did not work (${code}).`;
    }
    render();
  }

  function dot(user: PublicUser): HTMLElement {
    const online = ctx.isOnline(user.id);
    const title = online ? 'online' : formatLastSeen(ctx.lastSeen(user.id));
    return h('span', {
      class: 'dot',
      'data-testid': 'presence-dot',
      'data-online': String(online),
      title,
    });
  }

  function who(user: PublicUser): HTMLElement {
    return h(
      'span',
      { class: 'who' },
      h('span', { class: 'name' }, user.displayName || user.username),
      h('span', { class: 'muted' }, `@${user.username}`),
    );
  }

  function resultAction(user: PublicUser): HTMLElement {
    if (ctx.isFriend(user.id)) {
      return h('span', { class: 'muted', 'data-testid': 'search-status' }, 'Friend');
    }
    if (ctx.requests.outgoing.some((u) => u.id === user.id)) {
      return h('span', { class: 'muted', 'data-testid': 'search-status' }, 'Requested');
    }
    const accepts = ctx.requests.incoming.some((u) => u.id === user.id);
    const send = () => act(() => ctx.client.http.sendFriendRequest(user.id));
    return h(
      'button',
      { type: 'button', class: 'small', 'data-testid': 'add-friend', onclick: send },
      accepts ? 'Accept' : 'Add',
    );
  }

  function renderResults(): void {
    const others = found.filter((u) => u.id !== ctx.me);
    replaceChildren(
      results,
      others.map((user) =>
        h(
          'li',
          { class: 'person', 'data-testid': 'search-result', 'data-username': user.username },
          who(user),
          resultAction(user),
        ),
      ),
    );
    if (search.value.trim() && others.length === 0) {
      results.append(h('li', { class: 'muted' }, 'Nobody found.'));
    }
  }

  function renderRequests(): void {
    const incoming = ctx.requests.incoming.map((user) =>
      h(
        'li',
        {
          class: 'person request',
          'data-testid': 'incoming-request',
          'data-username': user.username,
        },
        who(user),
        h(
          'span',
          { class: 'actions' },
          h(
            'button',
            {
              type: 'button',
              class: 'small',
              'data-testid': 'accept-request',
              onclick: () => act(() => ctx.client.http.acceptFriendRequest(user.id)),
            },
            'Accept',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'small secondary',
              'data-testid': 'decline-request',
              onclick: () => act(() => ctx.client.http.declineFriendRequest(user.id)),
            },
            'Decline',
          ),
        ),
      ),
    );
    const outgoing = ctx.requests.outgoing.map((user) =>
      h(
        'li',
        {
          class: 'person request',
          'data-testid': 'outgoing-request',
          'data-username': user.username,
        },
        who(user),
        h(
          'button',
          {
            type: 'button',
            class: 'small secondary',
            'data-testid': 'cancel-request',
            onclick: () => act(() => ctx.client.http.cancelFriendRequest(user.id)),
          },
          'Cancel',
        ),
      ),
    );
    replaceChildren(requests, [...incoming, ...outgoing]);
  }

  function renderFriends(): void {
    const sorted = [...ctx.friends].sort(
      (a, b) =>
        Number(ctx.isOnline(b.id)) - Number(ctx.isOnline(a.id)) ||
        a.username.localeCompare(b.username),
    );
    replaceChildren(
      friends,
      sorted.map((user) =>
        h(
          'li',
          { class: 'person', 'data-testid': 'friend-item', 'data-username': user.username },
          dot(user),
          who(user),
          h(
            'button',
            {
              type: 'button',
              class: 'small',
              'data-testid': 'message-friend',
              onclick: () => onMessage(user.id),
            },
            'Message',
          ),
        ),
      ),
    );
    empty.hidden = ctx.friends.length > 0;
  }

  function render(): void {
    renderResults();
    renderRequests();
    renderFriends();
  }

  async function runSearch(): Promise<void> {
    const prefix = search.value.trim();
    const mine = ++searchSeq;
    if (!prefix) {
      found = [];
      renderResults();
      return;
    }
    try {
      const users = await ctx.client.http.searchUsers(prefix.slice(0, 32), 10);
      if (mine === searchSeq) {
        found = users;
        ctx.remember(users);
        renderResults();
      }
    } catch {
      // A failed search leaves the previous results; the next keystroke tries again.
    }
  }

  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => void runSearch(), SEARCH_DEBOUNCE_MS);
  });

  return { render };
}

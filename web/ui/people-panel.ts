import type { PublicUser } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { confirmButton } from './controls.ts';
import { byTestId, h, nameTag, replaceChildren, userText } from './dom.ts';
import { readableError } from './errors.ts';
import { createFriendsList } from './friends-list.ts';

const SEARCH_DEBOUNCE_MS = 250;

/** Runs a contacts change, refetches contacts, re-renders; failures show as a sentence. */
export type ContactAction = (work: () => Promise<unknown>) => Promise<void>;

/** Friends: search by username prefix, requests in and out, friends and blocked people. */
export function createPeoplePanel(ctx: AppContext, onMessage: (userId: string) => void) {
  const search = byTestId<HTMLInputElement>('user-search');
  const results = byTestId<HTMLUListElement>('search-results');
  const incomingHead = byTestId('incoming-heading');
  const incoming = byTestId<HTMLUListElement>('incoming-requests');
  const outgoingHead = byTestId('outgoing-heading');
  const outgoing = byTestId<HTMLUListElement>('outgoing-requests');
  const error = byTestId('people-error');
  let found: PublicUser[] = [];
  let searchTimer: ReturnType<typeof setTimeout> | undefined;
  let searchSeq = 0;

  const act: ContactAction = async (work) => {
    error.textContent = '';
    try {
      await work();
      await ctx.loadContacts();
    } catch (failure) {
      error.textContent = readableError(failure);
    }
    render();
  };
  const friendsList = createFriendsList(ctx, act, onMessage);

  function who(user: PublicUser): HTMLElement {
    return nameTag(user.displayName || user.username, user.username, { class: 'who' });
  }

  function blockButton(user: PublicUser): HTMLElement {
    return confirmButton({
      label: 'Block',
      testId: 'block-user',
      question: ['Block ', userText(`@${user.username}`), '?'],
      danger: true,
      run: () => void act(() => ctx.client.http.block(user.id)),
    });
  }

  function button(label: string, testId: string, run: () => void, secondary = false) {
    const attrs = { type: 'button', 'data-testid': testId, onclick: run };
    return h('button', { ...attrs, class: secondary ? 'small secondary' : 'small' }, label);
  }

  function resultAction(user: PublicUser): HTMLElement {
    const status = (text: string) =>
      h('span', { class: 'muted', 'data-testid': 'search-status' }, text);
    if (ctx.isBlocked(user.id)) {
      return status('Blocked');
    }
    if (ctx.isFriend(user.id)) {
      return status('Friend');
    }
    if (ctx.requests.outgoing.some((u) => u.id === user.id)) {
      return status('Requested');
    }
    const accepts = ctx.requests.incoming.some((u) => u.id === user.id);
    const send = () => void act(() => ctx.client.http.sendFriendRequest(user.id));
    return h(
      'span',
      { class: 'actions' },
      button(accepts ? 'Accept' : 'Add', 'add-friend', send),
      blockButton(user),
    );
  }

  function row(user: PublicUser, testId: string, ...actions: HTMLElement[]): HTMLLIElement {
    return h(
      'li',
      { class: 'person', 'data-testid': testId, 'data-username': user.username },
      who(user),
      h('span', { class: 'actions' }, ...actions),
    );
  }

  function renderResults(): void {
    const others = found.filter((u) => u.id !== ctx.me);
    replaceChildren(
      results,
      others.map((user) => row(user, 'search-result', resultAction(user))),
    );
    if (search.value.trim() && others.length === 0) {
      results.append(h('li', { class: 'muted' }, 'Nobody found.'));
    }
  }

  function renderRequests(): void {
    const http = ctx.client.http;
    const incomingRows = ctx.requests.incoming.map((user) =>
      row(
        user,
        'incoming-request',
        button('Accept', 'accept-request', () => void act(() => http.acceptFriendRequest(user.id))),
        button(
          'Decline',
          'decline-request',
          () => void act(() => http.declineFriendRequest(user.id)),
          true,
        ),
        blockButton(user),
      ),
    );
    const outgoingRows = ctx.requests.outgoing.map((user) =>
      row(
        user,
        'outgoing-request',
        button(
          'Cancel',
          'cancel-request',
          () => void act(() => http.cancelFriendRequest(user.id)),
          true,
        ),
      ),
    );
    replaceChildren(incoming, incomingRows);
    replaceChildren(outgoing, outgoingRows);
    incomingHead.hidden = incomingRows.length === 0;
    outgoingHead.hidden = outgoingRows.length === 0;
  }

  function render(): void {
    renderResults();
    renderRequests();
    friendsList.render();
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

  return { render, act };
}

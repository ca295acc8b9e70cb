import type { PublicUser } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { confirmButton } from './controls.ts';
import { byTestId, formatLastSeen, h, nameTag, replaceChildren, userText } from './dom.ts';
import type { ContactAction } from './people-panel.ts';

/** The friend list (presence, Message, Unfriend, Block) and the blocked list (Unblock). */
export function createFriendsList(
  ctx: AppContext,
  act: ContactAction,
  onMessage: (userId: string) => void,
) {
  const friends = byTestId<HTMLUListElement>('friend-list');
  const empty = byTestId('friend-list-empty');
  const blockedHead = byTestId('blocked-heading');
  const blocked = byTestId<HTMLUListElement>('blocked-list');

  function dot(user: PublicUser): HTMLElement {
    const online = ctx.isOnline(user.id);
    const title = !ctx.connected
      ? 'unknown while offline'
      : online
        ? 'online'
        : formatLastSeen(ctx.lastSeen(user.id));
    return h('span', {
      class: 'dot',
      'data-testid': 'presence-dot',
      'data-online': String(online),
      title,
    });
  }

  function friendRow(user: PublicUser): HTMLLIElement {
    const http = ctx.client.http;
    const handle = userText(`@${user.username}`);
    return h(
      'li',
      { class: 'person', 'data-testid': 'friend-item', 'data-username': user.username },
      dot(user),
      nameTag(user.displayName || user.username, user.username, { class: 'who' }),
      h(
        'span',
        { class: 'actions' },
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
        h(
          'details',
          { class: 'more' },
          h('summary', { 'data-testid': 'friend-more', title: 'More actions' }, '⋯'),
          h(
            'span',
            { class: 'more-menu' },
            confirmButton({
              label: 'Unfriend',
              testId: 'unfriend',
              question: ['Unfriend ', handle.cloneNode(true), '?'],
              run: () => void act(() => http.removeFriend(user.id)),
            }),
            confirmButton({
              label: 'Block',
              testId: 'block-user',
              question: ['Block ', handle.cloneNode(true), '?'],
              danger: true,
              run: () => void act(() => http.block(user.id)),
            }),
          ),
        ),
      ),
    );
  }

  function blockedRow(user: PublicUser): HTMLLIElement {
    return h(
      'li',
      { class: 'person', 'data-testid': 'blocked-item', 'data-username': user.username },
      nameTag(user.displayName || user.username, user.username, { class: 'who' }),
      h(
        'button',
        {
          type: 'button',
          class: 'small secondary',
          'data-testid': 'unblock-user',
          onclick: () => void act(() => ctx.client.http.unblock(user.id)),
        },
        'Unblock',
      ),
    );
  }

  return {
    render(): void {
      const sorted = [...ctx.friends].sort(
        (a, b) =>
          Number(ctx.isOnline(b.id)) - Number(ctx.isOnline(a.id)) ||
          a.username.localeCompare(b.username),
      );
      replaceChildren(friends, sorted.map(friendRow));
      empty.hidden = ctx.friends.length > 0;
      replaceChildren(blocked, ctx.blocked.map(blockedRow));
      blockedHead.hidden = ctx.blocked.length === 0;
    },
  };
}

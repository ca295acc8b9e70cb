import type { Room } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import {
  byTestId,
  formatTime,
  h,
  nameTag,
  plural,
  replaceChildren,
  userText,
  type Child,
} from './dom.ts';

/** The chat list: most recent first, unread badges, presence dots for DMs. */
export function createRoomsPanel(ctx: AppContext, onSelect: (roomId: string) => void) {
  const list = byTestId<HTMLUListElement>('room-list');
  const empty = byTestId('room-list-empty');

  function preview(room: Room): Child[] {
    const last = room.lastMessage;
    if (!last) {
      return [room.kind === 'group' ? plural(room.memberIds.length, 'member') : 'No messages yet'];
    }
    const who =
      last.senderId === ctx.me
        ? 'You: '
        : room.kind === 'group'
          ? [userText(ctx.nameOf(last.senderId)), ': ']
          : '';
    return [...[who].flat(), userText(last.body)];
  }

  function item(room: Room): HTMLLIElement {
    const active = room.id === ctx.activeRoomId;
    const unread = active ? 0 : room.unread;
    const peerId = room.kind === 'dm' ? room.peerId : undefined;
    const dot = peerId
      ? h('span', {
          class: 'dot',
          'data-testid': 'room-presence',
          'data-online': String(ctx.isOnline(peerId)),
        })
      : h('span', { class: 'avatar-group', 'aria-hidden': 'true' }, '#');
    return h(
      'li',
      {
        class: active ? 'room active' : 'room',
        'data-testid': 'room-item',
        'data-room-id': room.id,
        'data-room-name': room.name,
        'data-kind': room.kind,
      },
      h(
        'button',
        { type: 'button', onclick: () => onSelect(room.id) },
        dot,
        h(
          'span',
          { class: 'room-text' },
          h(
            'span',
            { class: 'room-line' },
            nameTag(room.name, peerId ? ctx.usernameOf(peerId) : undefined, {
              class: 'room-name',
              'data-testid': 'room-name',
            }),
            h(
              'span',
              { class: 'muted time' },
              room.lastMessage ? formatTime(room.lastMessage.createdAt) : '',
            ),
          ),
          h('span', { class: 'muted preview' }, ...preview(room)),
        ),
        unread > 0 && h('span', { class: 'badge', 'data-testid': 'unread-badge' }, unread),
      ),
    );
  }

  return {
    render(): void {
      const rooms = ctx.client.rooms();
      replaceChildren(list, rooms.map(item));
      empty.hidden = rooms.length > 0;
    },
  };
}

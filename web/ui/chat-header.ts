import type { Room } from '../../shared/sdk/index.ts';
import type { AppContext } from './context.ts';
import { confirmButton } from './controls.ts';
import { byTestId, formatLastSeen, h, nameTag, plural, replaceChildren, userText } from './dom.ts';
import { readableError } from './errors.ts';
import type { RoomDialog } from './room-dialog.ts';

/**
 * The open room's header: the name with the peer's @username (DMs) or the members with theirs
 * (groups), presence, and the room's actions: Rename, Add members, Leave; Block in a DM.
 */
export function createChatHeader(ctx: AppContext, dialog: RoomDialog) {
  const title = byTestId('room-title');
  const subtitle = byTestId('room-subtitle');
  const actions = byTestId('room-actions');
  const error = byTestId('room-error');

  async function run(work: () => Promise<unknown>): Promise<void> {
    error.textContent = '';
    try {
      await work();
    } catch (failure) {
      error.textContent = readableError(failure);
    }
  }

  function button(label: string, testId: string, onclick: () => void): HTMLElement {
    return h(
      'button',
      { type: 'button', class: 'small secondary', 'data-testid': testId, onclick },
      label,
    );
  }

  function dmHeader(room: Room, peerId: string): void {
    replaceChildren(title, [nameTag(room.name, ctx.usernameOf(peerId))]);
    const online = ctx.isOnline(peerId);
    const presence = !ctx.connected
      ? 'offline: reconnecting'
      : online
        ? 'online'
        : formatLastSeen(ctx.lastSeen(peerId));
    const status = ctx.user(peerId)?.statusText;
    replaceChildren(subtitle, [
      h('span', { class: 'dot', 'data-testid': 'peer-presence', 'data-online': String(online) }),
      presence,
      status ? ' · ' : '',
      status ? userText(status, { class: 'status-text' }) : '',
    ]);
    const blocked = ctx.isBlocked(peerId);
    const http = ctx.client.http;
    replaceChildren(actions, [
      blocked
        ? button('Unblock', 'room-unblock', () => void run(() => http.unblock(peerId)))
        : confirmButton({
            label: 'Block',
            testId: 'room-block',
            question: ['Block ', userText(`@${ctx.usernameOf(peerId) ?? room.name}`), '?'],
            danger: true,
            run: () => void run(() => http.block(peerId)),
          }),
    ]);
  }

  function groupHeader(room: Room): void {
    replaceChildren(title, [userText(room.name)]);
    const members = room.memberIds.map((id) =>
      h(
        'span',
        { class: 'member', 'data-testid': 'room-member' },
        h('span', {
          class: 'dot',
          'data-online': String((id === ctx.me && ctx.connected) || ctx.isOnline(id)),
        }),
        nameTag(ctx.nameOf(id), ctx.usernameOf(id)),
      ),
    );
    replaceChildren(subtitle, [
      h('span', { class: 'member-count' }, plural(room.memberIds.length, 'member')),
      ...members,
    ]);
    const roomId = room.id;
    const me = ctx.me;
    replaceChildren(actions, [
      button('Rename', 'room-rename', () => dialog.rename(room)),
      button('Add members', 'room-add-members', () => dialog.addMembers(room)),
      confirmButton({
        label: 'Leave',
        testId: 'room-leave',
        question: ['Leave ', userText(room.name), '?'],
        danger: true,
        run: () => void run(() => ctx.client.http.removeMember(roomId, me)),
      }),
    ]);
  }

  return {
    render(): void {
      const room = ctx.activeRoomId ? ctx.client.room(ctx.activeRoomId) : undefined;
      if (!room) {
        title.textContent = ctx.activeRoomId ? '…' : 'No chat open';
        subtitle.textContent = '';
        actions.replaceChildren();
        return;
      }
      if (room.kind === 'dm' && room.peerId) {
        dmHeader(room, room.peerId);
      } else {
        groupHeader(room);
      }
    },
    clearError(): void {
      error.textContent = '';
    },
  };
}

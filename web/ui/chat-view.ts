import { isAtlasApiError, type Room, type TimelineEntry } from '../../shared/sdk/index.ts';
import { createChatHeader } from './chat-header.ts';
import type { AppContext } from './context.ts';
import { byTestId, formatTime, h, replaceChildren, userText, type Child } from './dom.ts';
import { readableError } from './errors.ts';
import type { RoomDialog } from './room-dialog.ts';

const TYPING_SHOWN_MS = 4_000;
const RUN_GAP_MS = 5 * 60_000;
/** Within this many pixels of the bottom the list follows new messages. */
const STICKY_PX = 48;
/** Within this many pixels of the top, older history is loaded. */
const LOAD_OLDER_PX = 80;

type ScrollMode = 'keep' | 'bottom';

/** The open room: header, history with scroll-back, typing line, read receipts, composer. */
export function createChatView(ctx: AppContext, roomDialog: RoomDialog) {
  const header = createChatHeader(ctx, roomDialog);
  const list = byTestId('message-list');
  const typingLine = byTestId('typing-indicator');
  const composer = byTestId<HTMLFormElement>('composer');
  const input = byTestId<HTMLInputElement>('composer-input');
  /** userId -> time until which "is typing" shows, for the open room only. */
  const typers = new Map<string, number>();
  let loadingOlder = false;
  /** What the list shows now, to tell older messages added on top from new ones below. */
  let rendered: { roomId: string; oldestSeq: number | undefined } | undefined;

  function entryView(
    entry: TimelineEntry,
    room: Room | undefined,
    run: { first: boolean; last: boolean },
  ): HTMLElement {
    const mine = entry.senderId === ctx.me;
    let meta: Child[] = run.last ? [formatTime(entry.createdAt)] : [];
    if (entry.status === 'pending') {
      meta = ['Sending…'];
    } else if (entry.status === 'failed') {
      const roomId = entry.roomId;
      meta = [
        h(
          'span',
          { class: 'error', 'data-testid': 'send-error', 'data-error-code': entry.errorCode ?? '' },
          `Not sent: ${readableError(entry.errorCode ?? 'error')}`,
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            'data-testid': 'retry-send',
            onclick: () => ctx.client.retry(roomId, entry.clientMsgId),
          },
          'Retry',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'link',
            onclick: () => ctx.client.discard(roomId, entry.clientMsgId),
          },
          'Discard',
        ),
      ];
    }
    return h(
      'div',
      {
        class: `msg ${mine ? 'mine' : 'theirs'} ${entry.status}`,
        'data-testid': 'message',
        'data-seq': entry.seq ?? '',
        'data-status': entry.status,
        'data-mine': String(mine),
        'data-client-msg-id': entry.clientMsgId,
      },
      run.first &&
        !mine &&
        room?.kind === 'group' &&
        h(
          'span',
          { class: 'sender', 'data-testid': 'message-sender' },
          userText(ctx.nameOf(entry.senderId)),
        ),
      // dir="auto" plus unicode-bidi: isolate (style.css): the body's own direction marks and
      // overrides stay inside the bubble.
      h('div', { class: 'bubble', dir: 'auto', 'data-testid': 'message-body' }, entry.body),
      meta.length > 0 && h('span', { class: 'meta' }, ...meta),
    );
  }

  /** "Seen" under the newest own stored message that another member has read. */
  function seenView(
    room: Room,
    entries: TimelineEntry[],
  ): { afterSeq: number; el: HTMLElement } | undefined {
    const lastOwn = entries.findLast((e) => e.senderId === ctx.me && e.seq !== null);
    if (!lastOwn || lastOwn.seq === null) {
      return undefined;
    }
    const seq = lastOwn.seq;
    const readers = [...ctx.client.readersOf(room.id)]
      .filter(([userId, readSeq]) => userId !== ctx.me && readSeq >= seq)
      .map(([userId]) => userId);
    if (readers.length === 0) {
      return undefined;
    }
    const text: Child[] =
      room.kind === 'dm'
        ? ['Seen']
        : ['Seen by ', ...readers.flatMap((id, i) => [i > 0 && ', ', userText(ctx.nameOf(id))])];
    return {
      afterSeq: seq,
      el: h('div', { class: 'seen', 'data-testid': 'seen-indicator' }, ...text),
    };
  }

  function renderMessages(mode: ScrollMode = 'keep'): void {
    const roomId = ctx.activeRoomId;
    if (!roomId) {
      replaceChildren(list, [
        h(
          'p',
          { class: 'placeholder muted' },
          'Choose a conversation on the left, or message a friend.',
        ),
      ]);
      return;
    }
    const room = ctx.client.room(roomId);
    const timeline = ctx.client.timeline(roomId);
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < STICKY_PX;
    const fromBottom = list.scrollHeight - list.scrollTop;
    const scrollTop = list.scrollTop;

    const entries = timeline.entries();
    const seen = room ? seenView(room, entries) : undefined;
    const children: Child[] = [
      timeline.hasOlder
        ? h(
            'button',
            {
              type: 'button',
              class: 'link older',
              'data-testid': 'load-older',
              onclick: () => void loadOlder(),
            },
            loadingOlder ? 'Loading…' : 'Load older messages',
          )
        : h(
            'p',
            { class: 'muted start', 'data-testid': 'history-start' },
            'This is the beginning of the conversation.',
          ),
    ];
    entries.forEach((entry, i) => {
      const run = {
        first: !sameRun(entries[i - 1], entry),
        last: !sameRun(entry, entries[i + 1]),
      };
      children.push(entryView(entry, room, run));
      if (seen && entry.seq === seen.afterSeq) {
        children.push(seen.el);
      }
    });
    replaceChildren(list, children);

    // Older messages went in on top: keep the distance from the bottom, so what the reader was
    // looking at stays put. New ones below: stay at the bottom if there, else keep the position.
    const oldestSeq = timeline.oldestSeq;
    const prepended =
      rendered?.roomId === roomId &&
      oldestSeq !== undefined &&
      rendered.oldestSeq !== undefined &&
      oldestSeq < rendered.oldestSeq;
    rendered = { roomId, oldestSeq };
    if (mode === 'bottom' || (!prepended && nearBottom)) {
      list.scrollTop = list.scrollHeight;
    } else if (prepended) {
      list.scrollTop = list.scrollHeight - fromBottom;
    } else {
      list.scrollTop = scrollTop;
    }
  }

  function renderTyping(): void {
    const now = Date.now();
    const names = [...typers]
      .filter(([, until]) => until > now)
      .map(([userId]) => userText(ctx.nameOf(userId)));
    if (names.length === 0) {
      typingLine.replaceChildren();
      return;
    }
    const list = names.flatMap((name, i) => [i > 0 && ', ', name]);
    replaceChildren(typingLine, [...list, names.length === 1 ? ' is typing…' : ' are typing…']);
  }

  async function loadOlder(): Promise<void> {
    const roomId = ctx.activeRoomId;
    // Until the newest page is in, "older" has no anchor; switching rooms also fires a scroll
    // event at the top of the still-empty list.
    const timeline = roomId ? ctx.client.timeline(roomId) : undefined;
    if (!roomId || !timeline?.historyLoaded || !timeline.hasOlder || loadingOlder) {
      return;
    }
    loadingOlder = true;
    try {
      await ctx.client.loadOlder(roomId);
    } catch {
      // The button stays; scrolling up or clicking tries again.
    } finally {
      loadingOlder = false;
    }
    if (ctx.activeRoomId === roomId) {
      renderMessages();
    }
  }

  /** Loads older pages until the list can scroll, so scroll-to-top can trigger more. */
  async function fillViewport(roomId: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const timeline = ctx.client.timeline(roomId);
      if (
        ctx.activeRoomId !== roomId ||
        !timeline.hasOlder ||
        list.scrollHeight > list.clientHeight + LOAD_OLDER_PX
      ) {
        return;
      }
      await loadOlder();
    }
  }

  function markRead(): void {
    if (ctx.activeRoomId && document.visibilityState === 'visible') {
      ctx.client.markRead(ctx.activeRoomId);
    }
  }

  function renderHeader(): void {
    header.render();
  }

  async function open(roomId: string): Promise<void> {
    ctx.activeRoomId = roomId;
    header.clearError();
    typers.clear();
    renderTyping();
    composer.hidden = false;
    input.value = '';
    renderHeader();
    renderMessages('bottom');
    try {
      await ctx.client.openRoom(roomId);
    } catch (error) {
      list.append(h('p', { class: 'error' }, `Could not load messages. ${readableError(error)}`));
      return;
    }
    if (ctx.activeRoomId !== roomId) {
      return;
    }
    renderMessages('bottom');
    markRead();
    input.focus();
    await fillViewport(roomId);
    ctx.client
      .roomDetail(roomId)
      .then((detail) => {
        ctx.remember(detail.members ?? []);
        renderHeader();
      })
      .catch(() => {});
  }

  function close(): void {
    ctx.activeRoomId = undefined;
    composer.hidden = true;
    typers.clear();
    renderTyping();
    renderHeader();
    renderMessages();
  }

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const roomId = ctx.activeRoomId;
    const text = input.value;
    if (!roomId || text.trim() === '') {
      return;
    }
    try {
      ctx.client.send(roomId, text);
      input.value = '';
    } catch (error) {
      input.setCustomValidity(
        isAtlasApiError(error) ? 'Messages are 1-4000 characters.' : String(error),
      );
      input.reportValidity();
      return;
    }
    renderMessages('bottom');
  });

  input.addEventListener('input', () => {
    input.setCustomValidity('');
    if (ctx.activeRoomId && input.value !== '') {
      ctx.client.typing(ctx.activeRoomId);
    }
  });

  list.addEventListener('scroll', () => {
    if (list.scrollTop < LOAD_OLDER_PX) {
      void loadOlder();
    }
  });

  return {
    open,
    close,
    renderHeader,
    renderMessages,
    markRead,
    onTyping(roomId: string, userId: string): void {
      if (roomId !== ctx.activeRoomId) {
        return;
      }
      typers.set(userId, Date.now() + TYPING_SHOWN_MS);
      renderTyping();
      setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
    },
    /** A message from `userId` ends their typing line. */
    onMessageFrom(roomId: string, userId: string): void {
      if (roomId === ctx.activeRoomId && typers.delete(userId)) {
        renderTyping();
      }
    },
  };
}

/** Consecutive messages of one sender within a few minutes share one name and one time. */
function sameRun(a: TimelineEntry | undefined, b: TimelineEntry | undefined): boolean {
  if (!a || !b || a.senderId !== b.senderId || a.status !== 'sent') {
    return false;
  }
  return Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < RUN_GAP_MS;
}

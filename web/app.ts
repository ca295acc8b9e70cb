/**
 * The ATLAS web client. Bundled with the SDK by web/build.ts into /app.js; index.html holds the
 * static skeleton and the views below fill it.
 */
import {
  AtlasClient,
  AtlasHttp,
  isSessionEnded,
  type ConnectionState,
  type Session,
} from '../shared/sdk/index.ts';
import { showAuthView } from './ui/auth-view.ts';
import { createChatView } from './ui/chat-view.ts';
import { AppContext } from './ui/context.ts';
import { byTestId } from './ui/dom.ts';
import { readableError } from './ui/errors.ts';
import { createGroupDialog } from './ui/group-dialog.ts';
import { createPeoplePanel } from './ui/people-panel.ts';
import { createProfileDialog } from './ui/profile-dialog.ts';
import { createRoomDialog } from './ui/room-dialog.ts';
import { createRoomsPanel } from './ui/rooms-panel.ts';
import { sessionStore } from './ui/session-store.ts';

const NOTICE_KEY = 'atlas.notice';

/** On reload the stored refresh token buys a fresh access token before anything else. */
async function restoreSession(): Promise<Session | undefined> {
  if (!sessionStore.load()) {
    return undefined;
  }
  return sessionStore.lock(async () => {
    // Read again inside the lock: another tab may have just rotated the refresh token.
    const saved = sessionStore.load();
    if (!saved) {
      return undefined;
    }
    try {
      const fresh = await new AtlasHttp().refresh(saved.refreshToken);
      sessionStore.save(fresh);
      return fresh;
    } catch (error) {
      if (isSessionEnded(error)) {
        sessionStore.clear();
        return undefined;
      }
      // Server unreachable: start with what we have; the client refreshes once it can.
      return saved;
    }
  });
}

/** Leaves the app for the login screen, via a reload so that no view keeps stale state. */
function signOut(notice: string): void {
  sessionStore.clear();
  sessionStorage.setItem(NOTICE_KEY, notice);
  location.reload();
}

/**
 * The dot in the sidebar and, once the app has been connected, the "Reconnecting…" banner for
 * every state but open. Before the first hello only a failed attempt shows the banner.
 */
function showConnection(client: AtlasClient, state: ConnectionState, everOpen: boolean): void {
  byTestId('connection-banner').hidden =
    state === 'open' || state === 'stopped' || (!everOpen && state !== 'waiting');
  const dot = byTestId('connection-dot');
  const label =
    state === 'open'
      ? client.synced
        ? 'connected'
        : 'catching up'
      : state === 'stopped'
        ? 'offline'
        : 'reconnecting';
  dot.dataset.state = label;
  dot.title = label;
}

function startApp(session: Session): void {
  sessionStore.save(session);
  const client = new AtlasClient({ session, sessionStore });
  const ctx = new AppContext(client, renderAll);
  const chat = createChatView(ctx, createRoomDialog(ctx));
  const rooms = createRoomsPanel(ctx, (roomId) => void selectRoom(roomId));
  const people = createPeoplePanel(ctx, (userId) => void messageUser(userId));
  const groups = createGroupDialog(ctx, (roomId) => void selectRoom(roomId));
  const profile = createProfileDialog(ctx, (user) => {
    ctx.remember([user]);
    byTestId('me-name').textContent = user.displayName || user.username;
  });
  let everOpen = false;

  function renderAll(): void {
    rooms.render();
    people.render();
    chat.renderHeader();
    chat.renderMessages();
  }

  async function selectRoom(roomId: string): Promise<void> {
    await chat.open(roomId);
    rooms.render();
  }

  async function messageUser(userId: string): Promise<void> {
    try {
      const room = await client.openDm(userId);
      await selectRoom(room.id);
    } catch (error) {
      byTestId('people-error').textContent = `Could not open the chat. ${readableError(error)}`;
    }
  }

  async function refreshContacts(): Promise<void> {
    try {
      await ctx.loadContacts();
    } catch {
      // Shown again on the next contacts_changed or reload.
    }
    people.render();
    rooms.render();
    chat.renderHeader(); // Block / Unblock in a DM's header
  }

  client.on('stopped', ({ reason }) => {
    if (reason !== 'closed') {
      signOut(reason === 'revoked' ? 'You were logged out.' : 'Your session ended; log in again.');
    }
  });
  client.on('state', (state) => {
    everOpen ||= state === 'open';
    showConnection(client, state, everOpen);
    // Presence is only shown while connected (AppContext.isOnline): grey the dots now.
    people.render();
    rooms.render();
    chat.renderHeader();
  });
  client.on('synced', () => showConnection(client, client.connectionState, everOpen));
  client.on('rooms', () => {
    rooms.render();
    chat.renderHeader();
  });
  client.on('timeline', ({ roomId }) => {
    if (roomId === ctx.activeRoomId) {
      chat.renderMessages();
      chat.markRead();
    }
  });
  client.on('message', (message) => chat.onMessageFrom(message.roomId, message.senderId));
  client.on('read', ({ roomId }) => {
    if (roomId === ctx.activeRoomId) {
      chat.renderMessages();
    }
  });
  client.on('typing', ({ roomId, userId }) => chat.onTyping(roomId, userId));
  client.on('presence', () => {
    people.render();
    rooms.render();
    chat.renderHeader();
  });
  client.on('room_removed', ({ roomId }) => {
    if (roomId === ctx.activeRoomId) {
      chat.close();
    }
  });
  client.on('contacts_changed', () => void refreshContacts());

  byTestId('me-name').textContent = session.user.displayName || session.user.username;
  byTestId('logout').addEventListener('click', () => {
    void client.logout().finally(() => signOut(''));
  });
  byTestId('new-group').addEventListener('click', () => groups.open());
  byTestId('open-profile').addEventListener('click', () => profile.open());
  document.addEventListener('visibilitychange', () => chat.markRead());
  window.addEventListener('online', () => client.reconnectNow());

  byTestId('app-view').hidden = false;
  chat.close();
  client.start();
  void refreshContacts();
}

async function main(): Promise<void> {
  const notice = sessionStorage.getItem(NOTICE_KEY) ?? '';
  sessionStorage.removeItem(NOTICE_KEY);
  const session = await restoreSession();
  byTestId('boot').hidden = true;
  startApp(session ?? (await showAuthView(notice)));
}

void main();

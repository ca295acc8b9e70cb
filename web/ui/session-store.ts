import type { Session, SharedSessionStore } from '../../shared/sdk/index.ts';

const KEY = 'atlas.session';
const LOCK = 'atlas.session.refresh';

/**
 * The login kept across reloads and shared by the tabs of this origin. The refresh token is
 * single-use (the server revokes a login whose token is presented twice), so tabs take turns
 * refreshing under a Web Lock and pick up what another tab stored.
 */
export const sessionStore: Required<SharedSessionStore> & { clear(): void } = {
  load(): Session | undefined {
    try {
      const raw = localStorage.getItem(KEY);
      const value = raw ? (JSON.parse(raw) as Partial<Session>) : undefined;
      if (value?.refreshToken && value.accessToken && value.user?.id) {
        return value as Session;
      }
    } catch {
      // Unreadable storage behaves like no login.
    }
    return undefined;
  },

  save(session: Session): void {
    localStorage.setItem(KEY, JSON.stringify(session));
  },

  clear(): void {
    localStorage.removeItem(KEY);
  },

  lock<T>(work: () => Promise<T>): Promise<T> {
    // Web Locks exist only in secure contexts (https, localhost); elsewhere tabs just race.
    const locks = (navigator as Partial<Navigator>).locks;
    return locks ? (locks.request(LOCK, () => work()) as Promise<T>) : work();
  },
};

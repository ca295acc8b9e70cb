import type { Session } from '../../shared/sdk/index.ts';

const KEY = 'atlas.session';

/** The login kept across reloads. The refresh token is what matters; the access token is short. */
export const sessionStore = {
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
};

import { AtlasApiError, toErrorCode } from './errors.ts';
import type {
  AuthResult,
  FriendRequests,
  HistoryQuery,
  MessagePage,
  OwnUser,
  ProfilePatch,
  PublicUser,
  Room,
  RoomDetail,
  SendResult,
} from './types.ts';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface AtlasHttpOptions {
  /** Origin of the server, e.g. `http://localhost:8080`; '' (default) means same origin. */
  baseUrl?: string;
  fetch?: FetchLike;
  /** The current access token, or undefined for anonymous calls. */
  getAccessToken?: () => string | undefined;
  /**
   * Called once when an authenticated call fails with `token_expired`; resolves to a fresh access
   * token, after which the call is retried once.
   */
  refreshAccessToken?: () => Promise<string>;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

interface RequestSpec {
  method: Method;
  path: string;
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** Routes marked "no token" in the protocol. */
  anonymous?: boolean;
}

const enc = encodeURIComponent;

/** Typed methods for every REST route of docs/protocol.md. Errors are AtlasApiError. */
export class AtlasHttp {
  readonly baseUrl: string;
  readonly #fetch: FetchLike;
  readonly #getAccessToken: () => string | undefined;
  readonly #refreshAccessToken: (() => Promise<string>) | undefined;

  constructor(options: AtlasHttpOptions = {}) {
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TypeError('AtlasHttp needs a fetch implementation');
    }
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    // Bound so that browsers do not complain about fetch called with a foreign `this`.
    this.#fetch = (input, init) => fetchImpl(input, init);
    this.#getAccessToken = options.getAccessToken ?? (() => undefined);
    this.#refreshAccessToken = options.refreshAccessToken;
  }

  // --- auth (no token) ---

  register(input: { username: string; password: string; displayName?: string }) {
    return this.#call<AuthResult>({
      method: 'POST',
      path: '/auth/register',
      body: input,
      anonymous: true,
    });
  }

  login(input: { username: string; password: string }) {
    return this.#call<AuthResult>({
      method: 'POST',
      path: '/auth/login',
      body: input,
      anonymous: true,
    });
  }

  refresh(refreshToken: string) {
    const body = { refreshToken };
    return this.#call<AuthResult>({ method: 'POST', path: '/auth/refresh', body, anonymous: true });
  }

  logout(refreshToken: string) {
    const body = { refreshToken };
    return this.#call<{ ok: true }>({
      method: 'POST',
      path: '/auth/logout',
      body,
      anonymous: true,
    });
  }

  jwks() {
    return this.#call<{ keys: unknown[] }>({ method: 'GET', path: '/auth/jwks', anonymous: true });
  }

  // --- profiles ---

  async me(): Promise<OwnUser> {
    return (await this.#call<{ user: OwnUser }>({ method: 'GET', path: '/me' })).user;
  }

  async updateMe(patch: ProfilePatch): Promise<OwnUser> {
    const spec: RequestSpec = { method: 'PATCH', path: '/me', body: patch };
    return (await this.#call<{ user: OwnUser }>(spec)).user;
  }

  async user(userId: string): Promise<PublicUser> {
    const spec: RequestSpec = { method: 'GET', path: `/users/${enc(userId)}` };
    return (await this.#call<{ user: PublicUser }>(spec)).user;
  }

  /** Users whose username starts with `prefix` (1-32 characters). */
  async searchUsers(prefix: string, limit?: number): Promise<PublicUser[]> {
    const spec: RequestSpec = { method: 'GET', path: '/users', query: { prefix, limit } };
    return (await this.#call<{ users: PublicUser[] }>(spec)).users;
  }

  // --- friends, requests, blocks, contacts ---

  async friends(): Promise<PublicUser[]> {
    const spec: RequestSpec = { method: 'GET', path: '/me/friends' };
    return (await this.#call<{ friends: PublicUser[] }>(spec)).friends;
  }

  friendRequests(): Promise<FriendRequests> {
    return this.#call<FriendRequests>({ method: 'GET', path: '/me/friend-requests' });
  }

  /** `pending`, or `friends` when the other user had already asked. */
  sendFriendRequest(userId: string) {
    const spec: RequestSpec = { method: 'POST', path: '/me/friend-requests', body: { userId } };
    return this.#call<{ status: 'pending' | 'friends' }>(spec);
  }

  acceptFriendRequest(userId: string) {
    const path = `/me/friend-requests/${enc(userId)}/accept`;
    return this.#call<{ status: 'friends' }>({ method: 'POST', path });
  }

  declineFriendRequest(userId: string) {
    const path = `/me/friend-requests/${enc(userId)}/decline`;
    return this.#call<{ ok: true }>({ method: 'POST', path });
  }

  cancelFriendRequest(userId: string) {
    const path = `/me/friend-requests/${enc(userId)}`;
    return this.#call<{ ok: true }>({ method: 'DELETE', path });
  }

  removeFriend(userId: string) {
    return this.#call<{ ok: true }>({ method: 'DELETE', path: `/me/friends/${enc(userId)}` });
  }

  async blocks(): Promise<PublicUser[]> {
    const spec: RequestSpec = { method: 'GET', path: '/me/blocks' };
    return (await this.#call<{ users: PublicUser[] }>(spec)).users;
  }

  block(userId: string) {
    return this.#call<{ ok: true }>({ method: 'PUT', path: `/me/blocks/${enc(userId)}` });
  }

  unblock(userId: string) {
    return this.#call<{ ok: true }>({ method: 'DELETE', path: `/me/blocks/${enc(userId)}` });
  }

  /** Friends plus DM partners. */
  async contacts(): Promise<PublicUser[]> {
    const spec: RequestSpec = { method: 'GET', path: '/me/contacts' };
    return (await this.#call<{ contacts: PublicUser[] }>(spec)).contacts;
  }

  // --- rooms ---

  /** The one DM room between the caller and `userId`, created on first use. */
  async openDm(userId: string): Promise<Room> {
    const spec: RequestSpec = { method: 'POST', path: '/dms', body: { userId } };
    return (await this.#call<{ room: Room }>(spec)).room;
  }

  async createGroup(name: string, memberIds: string[]): Promise<Room> {
    const spec: RequestSpec = { method: 'POST', path: '/rooms', body: { name, memberIds } };
    return (await this.#call<{ room: Room }>(spec)).room;
  }

  async rooms(): Promise<Room[]> {
    return (await this.#call<{ rooms: Room[] }>({ method: 'GET', path: '/rooms' })).rooms;
  }

  async room(roomId: string): Promise<RoomDetail> {
    const spec: RequestSpec = { method: 'GET', path: `/rooms/${enc(roomId)}` };
    return (await this.#call<{ room: RoomDetail }>(spec)).room;
  }

  async renameRoom(roomId: string, name: string): Promise<Room> {
    const spec: RequestSpec = { method: 'PATCH', path: `/rooms/${enc(roomId)}`, body: { name } };
    return (await this.#call<{ room: Room }>(spec)).room;
  }

  async addMembers(roomId: string, userIds: string[]): Promise<Room> {
    const path = `/rooms/${enc(roomId)}/members`;
    return (await this.#call<{ room: Room }>({ method: 'POST', path, body: { userIds } })).room;
  }

  /** The owner removes a member; anyone may remove themselves (leave). */
  removeMember(roomId: string, userId: string) {
    const path = `/rooms/${enc(roomId)}/members/${enc(userId)}`;
    return this.#call<{ ok: true }>({ method: 'DELETE', path });
  }

  /** Ascending by seq. No cursor: newest page; `before`: scroll back; `after`: catch up. */
  messages(roomId: string, query: HistoryQuery = {}): Promise<MessagePage> {
    const path = `/rooms/${enc(roomId)}/messages`;
    return this.#call<MessagePage>({ method: 'GET', path, query: { ...query } });
  }

  /** REST send; `duplicate` is true when `clientMsgId` was already used in the room. */
  sendMessage(roomId: string, input: { clientMsgId: string; body: string }): Promise<SendResult> {
    const path = `/rooms/${enc(roomId)}/messages`;
    return this.#call<SendResult>({ method: 'POST', path, body: input });
  }

  async markRead(roomId: string, seq: number): Promise<number> {
    const path = `/rooms/${enc(roomId)}/read`;
    return (await this.#call<{ readSeq: number }>({ method: 'POST', path, body: { seq } })).readSeq;
  }

  // --- plumbing ---

  async #call<T>(spec: RequestSpec): Promise<T> {
    const token = spec.anonymous ? undefined : this.#getAccessToken();
    try {
      return await this.#request<T>(spec, token);
    } catch (error) {
      const expired = error instanceof AtlasApiError && error.code === 'token_expired';
      if (!expired || spec.anonymous || !this.#refreshAccessToken) {
        throw error;
      }
      return this.#request<T>(spec, await this.#refreshAccessToken());
    }
  }

  async #request<T>(spec: RequestSpec, token: string | undefined): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) {
      headers.authorization = `Bearer ${token}`;
    }
    const init: RequestInit = { method: spec.method, headers };
    if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(spec.body);
    }
    let response: Response;
    try {
      response = await this.#fetch(this.#url(spec), init);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new AtlasApiError('network_error', `request failed: ${reason}`, 0);
    }
    const payload = await readJson(response);
    if (!response.ok) {
      throw errorFromResponse(response, payload);
    }
    return payload as T;
  }

  #url(spec: RequestSpec): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) {
        params.set(key, String(value));
      }
    }
    const query = params.toString();
    const search = query === '' ? '' : `?${query}`;
    return `${this.baseUrl}/api${spec.path}${search}`;
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function errorFromResponse(response: Response, payload: unknown): AtlasApiError {
  const retryHeader = response.headers.get('retry-after');
  const retryAfter = retryHeader === null ? undefined : Number(retryHeader) || undefined;
  const body = payload as { error?: { code?: unknown; message?: unknown } } | undefined;
  const raw = body?.error;
  if (raw && typeof raw === 'object') {
    const message = typeof raw.message === 'string' ? raw.message : `HTTP ${response.status}`;
    return new AtlasApiError(toErrorCode(raw.code), message, response.status, retryAfter);
  }
  return new AtlasApiError('bad_response', `HTTP ${response.status}`, response.status, retryAfter);
}

/**
 * End to end in a real browser: the server runs as a child process (what `npm start` runs), two
 * headless Chromium contexts play alice and bob through the web client, and the server is
 * killed with SIGKILL and restarted on the same data directory halfway through.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

import { WebSocket } from 'ws';

import { AtlasClient, AtlasHttp, type AuthResult } from '../shared/sdk/index.ts';

/** Debian's package; ATLAS_CHROMIUM points elsewhere (e.g. to check the skip path). */
const CHROMIUM = process.env.ATLAS_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const REPO = fileURLToPath(new URL('..', import.meta.url));
const PASSWORD = 'correct horse battery';
const STEP_TIMEOUT_MS = 20_000;
/** Seeded into the group so that opening it needs more than one history page. */
const SEEDED_MESSAGES = 70;

interface Server {
  url: string;
  child: ChildProcess;
  output: () => string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Starts `shared/server/main.ts` and resolves once it prints its URL line. */
async function startServer(
  port: number,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/server/main.ts'], {
    cwd: REPO,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      ATLAS_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 60 s:\n${output}`)),
      60_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ATLAS listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return { url, child, output: () => output };
}

async function kill(server: Server | undefined): Promise<void> {
  const child = server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

// --- page helpers ---

const byUser = (page: Page, testId: string, username: string) =>
  page.locator(`[data-testid="${testId}"][data-username="${username}"]`);

const roomItem = (page: Page, name: string) =>
  page.locator(`[data-testid="room-item"][data-room-name="${name}"]`);

const messageBody = (page: Page, text: string) =>
  page.getByTestId('message-body').filter({ hasText: text });

async function waitForText(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor();
}

async function register(
  page: Page,
  url: string,
  username: string,
  displayName: string,
): Promise<void> {
  await page.goto(url);
  await page.getByTestId('auth-view').waitFor();
  await page.getByTestId('auth-username').fill(username);
  await page.getByTestId('auth-password').fill(PASSWORD);
  await page.getByTestId('auth-display-name').fill(displayName);
  await page.getByTestId('auth-register').click();
  await page.getByTestId('app-view').waitFor();
  await waitConnected(page);
  assert.equal(await page.getByTestId('me-name').textContent(), displayName);
}

async function waitConnected(page: Page, timeout = STEP_TIMEOUT_MS): Promise<void> {
  await page.locator('[data-testid="connection-dot"][data-state="connected"]').waitFor({ timeout });
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer-input').fill(text);
  await page.getByTestId('composer-input').press('Enter');
}

async function openRoom(page: Page, name: string): Promise<void> {
  await roomItem(page, name).locator('button').click();
  await waitForText(page.getByTestId('room-title'), name);
}

/** Every rendered message, as [seq, status, body]. */
async function messages(page: Page): Promise<Array<[string, string, string]>> {
  return page
    .getByTestId('message')
    .evaluateAll((nodes) =>
      nodes.map((n): [string, string, string] => [
        n.getAttribute('data-seq') ?? '',
        n.getAttribute('data-status') ?? '',
        n.querySelector('[data-testid="message-body"]')?.textContent ?? '',
      ]),
    );
}

/** Uncaught exceptions and console errors, minus the connection failures a restart causes. */
function watchErrors(page: Page, name: string, sink: string[]): void {
  page.on('pageerror', (error) => sink.push(`${name} pageerror: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (
      message.type() === 'error' &&
      !/WebSocket|Failed to load resource|ERR_CONNECTION_REFUSED/.test(text)
    ) {
      sink.push(`${name} console: ${text}`);
    }
  });
}

test(
  'two users chat in the browser, across a reload and a server crash',
  { timeout: 240_000 },
  async (t) => {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) {
        assert.fail(`${CHROMIUM} is missing: install it with apt-get install -y chromium`);
      }
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); not in CI, so skipping`);
      return;
    }

    const dataDir = await mkdtemp(join(tmpdir(), 'atlas-browser-'));
    const port = await freePort();
    let server: Server | undefined = await startServer(port, dataDir);
    const url = server.url;
    let browser: Browser | undefined;
    const errors: string[] = [];
    // Steps build on each other: after one fails, the rest are skipped instead of failing noisily.
    let broken = false;
    const step = (name: string, fn: () => Promise<void>) =>
      t.test(name, { skip: broken ? 'an earlier step failed' : false }, async () => {
        try {
          await fn();
        } catch (error) {
          broken = true;
          throw error;
        }
      });

    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const aliceContext = await browser.newContext({ viewport: { width: 1100, height: 720 } });
      const bobContext = await browser.newContext({ viewport: { width: 1100, height: 720 } });
      aliceContext.setDefaultTimeout(STEP_TIMEOUT_MS);
      bobContext.setDefaultTimeout(STEP_TIMEOUT_MS);
      const alice = await aliceContext.newPage();
      const bob = await bobContext.newPage();
      watchErrors(alice, 'alice', errors);
      watchErrors(bob, 'bob', errors);

      await step('both register and land in the app, connected', async () => {
        await alice.goto(url);
        await alice.getByTestId('auth-view').waitFor();
        await alice.screenshot({ path: '/tmp/atlas-browser-login.png' });
        await register(alice, url, 'alice', 'Alice');
        await register(bob, url, 'bob', 'Bob');
      });

      await step('they find each other and become friends', async () => {
        await alice.getByTestId('user-search').fill('bo');
        await byUser(alice, 'search-result', 'bob').getByTestId('add-friend').click();
        await byUser(alice, 'outgoing-request', 'bob').waitFor();

        // The request reaches bob live (contacts_changed), without a reload.
        await byUser(bob, 'incoming-request', 'alice').waitFor();
        await bob.getByTestId('user-search').fill('ali');
        await waitForText(
          byUser(bob, 'search-result', 'alice').getByTestId('add-friend'),
          'Accept',
        );
        await byUser(bob, 'incoming-request', 'alice').getByTestId('accept-request').click();

        await byUser(bob, 'friend-item', 'alice').waitFor();
        await byUser(alice, 'friend-item', 'bob').waitFor();
        await waitForText(byUser(bob, 'search-result', 'alice'), 'Friend');
        await byUser(alice, 'friend-item', 'bob')
          .locator('[data-testid="presence-dot"][data-online="true"]')
          .waitFor();
        await byUser(bob, 'friend-item', 'alice')
          .locator('[data-testid="presence-dot"][data-online="true"]')
          .waitFor();
      });

      await step('a DM: live messages, unread badge, read receipt and typing', async () => {
        await byUser(alice, 'friend-item', 'bob').getByTestId('message-friend').click();
        await waitForText(alice.getByTestId('room-title'), 'Bob');
        // Display names are not unique: the header also shows who it really is.
        await waitForText(alice.getByTestId('room-title').getByTestId('username'), '@bob');
        await send(alice, 'Hi Bob! <b>not bold</b>');
        await alice.locator('[data-testid="message"][data-status="sent"]').first().waitFor();

        const dm = roomItem(bob, 'Alice');
        await waitForText(dm.getByTestId('unread-badge'), '1');
        await openRoom(bob, 'Alice');
        await messageBody(bob, 'Hi Bob!').waitFor();
        // Rendered as text: the markup stays literal.
        assert.equal(await bob.locator('.bubble b').count(), 0);
        assert.equal(await dm.getByTestId('unread-badge').count(), 0);

        await waitForText(alice.getByTestId('seen-indicator'), 'Seen');

        await bob.getByTestId('composer-input').pressSequentially('Hey Alice', { delay: 40 });
        await waitForText(alice.getByTestId('typing-indicator'), 'Bob is typing');
        await bob.getByTestId('composer-input').press('Enter');
        await messageBody(alice, 'Hey Alice').waitFor();
        assert.equal(await alice.getByTestId('typing-indicator').textContent(), '');

        // Exactly one entry per message on both sides: the echo and the ack were reconciled.
        const expected: Array<[string, string, string]> = [
          ['1', 'sent', 'Hi Bob! <b>not bold</b>'],
          ['2', 'sent', 'Hey Alice'],
        ];
        await bob.locator('[data-testid="message"][data-seq="2"][data-status="sent"]').waitFor();
        assert.deepEqual(await messages(alice), expected);
        assert.deepEqual(await messages(bob), expected);
        await alice.screenshot({ path: '/tmp/atlas-browser-dm.png' });
      });

      await step('alice creates a group with bob', async () => {
        await alice.getByTestId('new-group').click();
        await alice.getByTestId('group-name').fill('Weekend plans');
        await byUser(alice, 'group-member', 'bob').check();
        await alice.getByTestId('group-create').click();
        await waitForText(alice.getByTestId('room-title'), 'Weekend plans');
        await send(alice, 'Who is in for Saturday?');

        await roomItem(bob, 'Weekend plans').waitFor();
        await openRoom(bob, 'Weekend plans');
        await messageBody(bob, 'Who is in for Saturday?').waitFor();
        await waitForText(bob.getByTestId('message-sender'), 'Alice');
      });

      await step(
        'bob reloads and still sees the history, and scrolls back through it',
        async () => {
          // Enough messages that the group's history takes more than one page.
          const session = await alice.evaluate(() => localStorage.getItem('atlas.session'));
          const { accessToken } = JSON.parse(session ?? '{}') as { accessToken: string };
          const http = new AtlasHttp({ baseUrl: url, getAccessToken: () => accessToken });
          const groupId = await roomItem(alice, 'Weekend plans').getAttribute('data-room-id');
          assert.ok(groupId);
          for (let i = 1; i <= SEEDED_MESSAGES; i++) {
            await http.sendMessage(groupId, {
              clientMsgId: `seed-${i}`,
              body: `seed message ${i}`,
            });
          }
          await messageBody(bob, `seed message ${SEEDED_MESSAGES}`).waitFor();

          await bob.reload();
          await bob.getByTestId('app-view').waitFor();
          await waitConnected(bob);
          await byUser(bob, 'friend-item', 'alice').waitFor();
          await openRoom(bob, 'Alice');
          await messageBody(bob, 'Hi Bob!').waitFor();
          await messageBody(bob, 'Hey Alice').waitFor();

          await openRoom(bob, 'Weekend plans');
          await messageBody(bob, `seed message ${SEEDED_MESSAGES}`).waitFor();
          const firstPage = (await messages(bob)).length;
          assert.ok(
            firstPage < SEEDED_MESSAGES + 1,
            `only the newest page is loaded (${firstPage})`,
          );
          // Scrolling to the top loads the older page (the rest) above, and the view stays on
          // the messages that were on screen instead of jumping to the oldest one.
          const list = bob.getByTestId('message-list');
          await list.evaluate((el) => el.scrollTo({ top: 0 }));
          await bob.getByTestId('history-start').waitFor();
          const scrollTop = await list.evaluate((el) => el.scrollTop);
          assert.ok(scrollTop > 200, `the view is anchored (scrollTop ${scrollTop})`);
          const all = await messages(bob);
          assert.equal(all.length, SEEDED_MESSAGES + 1);
          assert.deepEqual(
            all.map(([seq]) => Number(seq)),
            Array.from({ length: SEEDED_MESSAGES + 1 }, (_, i) => i + 1),
          );
        },
      );

      await step('after SIGKILL and a restart, history and friendship are intact', async () => {
        await kill(server);
        server = undefined;
        await alice
          .locator('[data-testid="connection-dot"]:not([data-state="connected"])')
          .waitFor();
        await waitForText(alice.getByTestId('connection-banner'), 'Reconnecting');
        // Offline, nobody is shown as online.
        await byUser(alice, 'friend-item', 'bob')
          .locator('[data-testid="presence-dot"][data-online="false"]')
          .waitFor();

        // Sent while the server is down: pending in the outbox, resent after the reconnect.
        await send(alice, 'Sent while the server was down');
        await alice.locator('[data-testid="message"][data-status="pending"]').waitFor();

        await alice.screenshot({ path: '/tmp/atlas-browser-reconnecting.png' });

        server = await startServer(port, dataDir);
        // The first retries come within a second or so: no long wait after the restart.
        await waitConnected(alice, 15_000);
        await alice.getByTestId('connection-banner').waitFor({ state: 'hidden' });
        await alice
          .locator('[data-testid="message"][data-status="pending"]')
          .waitFor({ state: 'detached' });
        await messageBody(bob, 'Sent while the server was down').waitFor({ timeout: 60_000 });

        await bob.reload();
        await bob.getByTestId('app-view').waitFor();
        await waitConnected(bob);
        await byUser(bob, 'friend-item', 'alice').waitFor();
        await openRoom(bob, 'Alice');
        assert.deepEqual(
          (await messages(bob)).map(([, , body]) => body),
          ['Hi Bob! <b>not bold</b>', 'Hey Alice'],
        );
        await openRoom(bob, 'Weekend plans');
        await messageBody(bob, 'Sent while the server was down').waitFor();

        await alice.reload();
        await alice.getByTestId('app-view').waitFor();
        await byUser(alice, 'friend-item', 'bob').waitFor();
        await openRoom(alice, 'Bob');
        await messageBody(alice, 'Hey Alice').waitFor();
        await send(alice, 'Back online');
        // bob has the group open: the DM shows the new message as unread.
        await waitForText(roomItem(bob, 'Alice').getByTestId('unread-badge'), '1');
      });

      await step('alice blocks bob from the friend list; his DM sends are refused', async () => {
        const friend = byUser(alice, 'friend-item', 'bob');
        await friend.getByTestId('friend-more').click();
        await friend.getByTestId('block-user').click();
        await friend.getByTestId('block-user-confirm').click();
        await byUser(alice, 'blocked-item', 'bob').waitFor();
        await friend.waitFor({ state: 'detached' });
        await byUser(bob, 'friend-item', 'alice').waitFor({ state: 'detached' });

        await openRoom(bob, 'Alice');
        await send(bob, 'Are you still there?');
        const refused = bob.locator('[data-testid="send-error"][data-error-code="blocked"]');
        await waitForText(refused, 'not accepting messages');
        await alice.screenshot({ path: '/tmp/atlas-browser-blocked.png' });
        await bob.screenshot({ path: '/tmp/atlas-browser-refused.png' });

        await byUser(alice, 'blocked-item', 'bob').getByTestId('unblock-user').click();
        await byUser(alice, 'blocked-item', 'bob').waitFor({ state: 'detached' });
      });

      await step('alice renames the group and bob sees the new name', async () => {
        await openRoom(alice, 'Weekend plans');
        await waitForText(alice.getByTestId('room-subtitle'), '2 members');
        await alice.getByTestId('room-rename').click();
        await alice.getByTestId('room-rename-input').fill('Sunday plans');
        await alice.getByTestId('room-dialog-save').click();
        await waitForText(alice.getByTestId('room-title'), 'Sunday plans');
        await roomItem(bob, 'Sunday plans').waitFor();

        // Unbroken text and stacked combining marks stay inside the bubble; a right-to-left mark
        // inside the body does not leak into the rest of the page (overrides are refused).
        const long = `\u200f${'x'.repeat(300)}${'a\u0301\u0302\u0303'.repeat(40)}`;
        await send(alice, long);
        const bubble = alice
          .locator('[data-testid="message"][data-status="sent"] [data-testid="message-body"]')
          .last();
        await waitForText(bubble, 'xxxx');
        const list = await alice.getByTestId('message-list').boundingBox();
        const box = await bubble.boundingBox();
        assert.ok(list && box && box.x + box.width <= list.x + list.width + 1, 'fits the list');
      });

      await alice.screenshot({ path: '/tmp/atlas-browser-alice.png' });
      await bob.screenshot({ path: '/tmp/atlas-browser-bob.png' });
      assert.deepEqual(errors, [], 'no page errors');
    } catch (error) {
      if (server) {
        process.stderr.write(`--- server output ---\n${server.output()}\n`);
      }
      throw error;
    } finally {
      await browser?.close();
      await kill(server);
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);

// --- the SDK in Node against the real server ---

async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 30_000,
  explain: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}\n${explain()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test(
  'the SDK in Node: re-auth before expiry, idempotent sends, outbox across a crash',
  { timeout: 180_000 },
  async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'atlas-sdk-e2e-'));
    const port = await freePort();
    // Six-second access tokens: the test outlives several of them on one connection.
    const env = { ATLAS_ACCESS_TOKEN_TTL_SECONDS: '6' };
    let server: Server | undefined = await startServer(port, dataDir, env);
    const url = server.url;
    const clients: AtlasClient[] = [];
    const trail: string[] = [];
    const waitFor = (condition: () => boolean, what: string, timeoutMs = 30_000) =>
      until(condition, what, timeoutMs, () => trail.join('\n'));
    const connect = (session: AuthResult) => {
      const client = new AtlasClient({
        session,
        baseUrl: url,
        WebSocket,
        backoff: { maxMs: 2_000 },
      });
      clients.push(client);
      // A trail of what each client went through, printed when a step fails.
      const name = session.user.username;
      client.on('state', (state) => trail.push(`${name} state ${state}`));
      client.on('stopped', ({ reason }) => trail.push(`${name} stopped ${reason}`));
      client.on('synced', () => trail.push(`${name} synced`));
      client.on('error', (error) => trail.push(`${name} error ${error.code} ${error.message}`));
      client.on('session', () => trail.push(`${name} refreshed`));
      client.start();
      return client;
    };
    try {
      const anonymous = new AtlasHttp({ baseUrl: url });
      const a = await anonymous.register({
        username: 'ann',
        password: PASSWORD,
        displayName: 'Ann',
      });
      const b = await anonymous.register({ username: 'ben', password: PASSWORD });
      const ann = connect(a);
      const ben = connect(b);
      await waitFor(() => ann.synced && ben.synced, 'both synced');
      assert.deepEqual(await ann.http.sendFriendRequest(b.user.id), { status: 'pending' });
      assert.deepEqual(await ben.http.acceptFriendRequest(a.user.id), { status: 'friends' });
      const room = await ann.openDm(b.user.id);
      await waitFor(() => ben.room(room.id) !== undefined, 'the DM reaches ben');

      await t.test(
        'a send is pending at once and ends as one stored entry on both sides',
        async () => {
          const entry = ann.send(room.id, 'first');
          assert.equal(entry.status, 'pending');
          await waitFor(() => ben.timeline(room.id).messages().length === 1, 'ben receives it');
          await waitFor(() => ann.outbox().length === 0, 'the ack');
          assert.deepEqual(
            ann
              .timeline(room.id)
              .entries()
              .map((e) => [e.seq, e.status, e.body]),
            [[1, 'sent', 'first']],
          );
          assert.equal(ben.room(room.id)?.unread, 1);
        },
      );

      await t.test('a retried clientMsgId returns the original message', async () => {
        const original = ann.timeline(room.id).messages()[0];
        assert.ok(original);
        const again = await ann.http.sendMessage(room.id, {
          clientMsgId: original.clientMsgId,
          body: original.body,
        });
        assert.equal(again.duplicate, true);
        assert.equal(again.message.seq, original.seq);
        await assert.rejects(
          ann.http.sendMessage(room.id, { clientMsgId: original.clientMsgId, body: 'other' }),
          { code: 'idempotency_conflict', status: 409 },
        );
      });

      await t.test('the connection outlives its access token through in-band auth', async () => {
        let refreshes = 0;
        let reconnects = 0;
        ann.on('session', () => refreshes++);
        ann.on('state', (state) => {
          if (state === 'connecting') {
            reconnects++;
          }
        });
        await new Promise((resolve) => setTimeout(resolve, 9_000));
        assert.ok(refreshes >= 2, `refreshed ${refreshes} times`);
        assert.equal(reconnects, 0);
        ann.send(room.id, 'still here');
        await waitFor(() => ben.timeline(room.id).messages().length === 2, 'ben receives it');
      });

      await t.test(
        'a send made while the server is down is delivered once after a restart',
        async () => {
          await kill(server);
          server = undefined;
          await waitFor(() => ann.connectionState !== 'open', 'ann notices');
          ann.send(room.id, 'during the outage');
          assert.equal(ann.outbox().length, 1);
          server = await startServer(port, dataDir, env);
          await waitFor(() => ann.outbox().length === 0, 'the outbox drains', 60_000);
          await waitFor(
            () => ben.timeline(room.id).messages().length === 3,
            'ben catches up',
            60_000,
          );
          const bodies = (c: AtlasClient) =>
            c
              .timeline(room.id)
              .entries()
              .map((e) => `${e.seq}:${e.body}`);
          const expected = ['1:first', '2:still here', '3:during the outage'];
          assert.deepEqual(bodies(ann), expected);
          assert.deepEqual(bodies(ben), expected);
          const history = await ben.http.messages(room.id);
          assert.deepEqual(
            history.messages.map((m) => `${m.seq}:${m.body}`),
            expected,
          );
        },
      );
    } catch (error) {
      if (server) {
        process.stderr.write(`--- server output ---\n${server.output()}\n`);
      }
      throw error;
    } finally {
      for (const client of clients) {
        client.stop();
      }
      await kill(server);
      await rm(dataDir, { recursive: true, force: true });
    }
  },
);

/**
 * Cross-tab sharing against a real hub, in Node.js: "tabs" are SharedClients in one process,
 * talking over Node's BroadcastChannel, with an in-process lock manager standing in for the Web Locks
 * API, so a test decides when the lock changes hands. (test/browser/shared-tabs.test.ts does the
 * same in real Chromium tabs.)
 */
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../../src/client/index.js';
import type { ClientEvent, ClientOptions, ResetNotice } from '../../../src/client/index.js';
import { ReconnectingClient } from '../../../src/client/client.js';
import { JOINED_SHARED_STREAM, SharedClient } from '../../../src/client/shared-client.js';
import type { ShareEnvironment } from '../../../src/client/share-protocol.js';
import { delay, hubSubscriptions, publish, startTestHub } from '../../helpers/hub.js';
import { eventually } from '../../helpers/wait.js';
import type { TestHub } from '../../helpers/hub.js';

const KEY = 'a-shared-client-test-secret-of-enough-length';

/** Web Locks, in process: one holder per name, the others queued in order. */
class FakeLocks {
  private readonly held = new Map<string, (() => void)[]>();

  request(name: string, options: { signal?: AbortSignal }, callback: () => Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const queue = this.held.get(name) ?? [];
      this.held.set(name, queue);
      const grant = (): void => {
        options.signal?.removeEventListener('abort', abort);
        void callback().finally(() => {
          resolve();
          queue.shift();
          queue[0]?.();
        });
      };
      const abort = (): void => {
        const index = queue.indexOf(grant);
        if (index > 0) queue.splice(index, 1);
        reject(new DOMException('aborted', 'AbortError'));
      };
      options.signal?.addEventListener('abort', abort);
      queue.push(grant);
      if (queue.length === 1) grant();
    });
  }
}

interface Tab {
  client: SharedClient;
  events: ClientEvent[];
  resets: ResetNotice[];
}

let hub: TestHub;
let environment: ShareEnvironment;
const tabs: Tab[] = [];

/** A subscriber token for tabs whose test is not about rights (the hub refuses anonymous ones). */
let anyoneToken: string;

function openTab(options: ClientOptions): Tab {
  const defaults: ClientOptions = { backoff: { initial: 20, jitter: 0 }, token: anyoneToken };
  const client = new SharedClient(hub.hubUrl, { ...defaults, ...options }, environment);
  const tab: Tab = { client, events: [], resets: [] };
  client.onAny((event) => tab.events.push(event));
  client.onReset((notice) => tab.resets.push(notice));
  tabs.push(tab);
  return tab;
}

let publisherAuth: Record<string, string>;

async function send(topic: string, data: string, fields: Record<string, string> = {}): Promise<string> {
  const answer = await publish(hub.hubUrl, { topic, data, ...fields }, publisherAuth);
  expect(answer.status).toBe(200);
  return answer.body;
}

/**
 * The leader's tab dies without a word (a crashed or killed tab): its connection stops, its
 * messages already posted are still on their way, and its lock is released.
 */
function crash(tab: Tab): void {
  const membership = (tab.client as unknown as { membership: { leader?: { stop(): void } } }).membership;
  const internals = tab.client as unknown as { membership: unknown };
  membership.leader?.stop();
  const { channel, releaseLock } = membership as unknown as {
    channel: BroadcastChannel;
    releaseLock(): void;
  };
  internals.membership = undefined;
  channel.close();
  releaseLock();
}

beforeAll(async () => {
  // A retry of over a second: the hub refuses a cut-off subject's tokens issued in the second of the
  // cut-off (iat has whole seconds), so a refresh only works from the next second on. (Sharing itself
  // never waits for a retry: a new leader connects at once.)
  hub = await startTestHub({
    config: { port: 0, retryMs: 1100, demo: true, jwtKey: KEY, allowAnonymous: true },
  });
  environment = { locks: new FakeLocks(), openChannel: (name) => new BroadcastChannel(name) };
  const publisher = await new SignJWT({ mercure: { publish: ['*'] } })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(KEY));
  publisherAuth = { Authorization: `Bearer ${publisher}` };
  anyoneToken = await new SignJWT({ mercure: { subscribe: [] } })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(new TextEncoder().encode(KEY));
});

afterEach(async () => {
  for (const tab of tabs.splice(0)) tab.client.close();
  await eventually(async () => (await hubSubscriptions(hub)) === 0, 5000, 'every stream closed');
});

afterAll(async () => {
  await hub?.close();
});

describe('shared client (in-process tabs, real hub)', () => {
  it('without Web Locks (Node.js), share: true opens an ordinary, unshared client', async () => {
    const client = createClient(hub.hubUrl, { topics: ['node-fallback'], share: true, token: anyoneToken });
    expect(client).toBeInstanceOf(ReconnectingClient);
    const received: string[] = [];
    client.onAny((event) => received.push(event.data));
    await eventually(() => client.state === 'open', 5000, 'open');
    await send('node-fallback', 'works');
    await eventually(() => received.length === 1, 5000, 'the event');
    expect(received).toEqual(['works']);
    client.close();
  });

  it('a new leader resuming before what the old one relayed delivers nothing twice', async () => {
    const a = openTab({ topics: ['handover'], share: true });
    await eventually(() => a.client.state === 'open' && a.client.leading, 5000, 'a leads');
    const b = openTab({ topics: ['handover'], share: true });
    await eventually(() => b.client.state === 'open', 5000, 'b follows');
    expect(await hubSubscriptions(hub)).toBe(1);
    const ids = [await send('handover', '0'), await send('handover', '1')];
    await eventually(() => b.events.length === 2, 5000, 'b has the first two');
    // The old leader relays two more and dies at once: b takes the lock before it has read them,
    // so it resumes after "1" and the hub sends "2" and "3" again.
    let relayed = 0;
    a.client.onAny(() => {
      if (++relayed === 2) crash(a);
    });
    ids.push(await send('handover', '2'), await send('handover', '3'));
    await eventually(() => b.client.leading, 5000, 'b leads');
    ids.push(await send('handover', '4'));
    await eventually(() => b.events.length >= 5, 5000, 'b has all five');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(b.events.map((event) => event.id)).toEqual(ids);
    expect(b.events.map((event) => event.data)).toEqual(['0', '1', '2', '3', '4']);
  });

  it('tabs with different topics share one connection to their union; each gets its own topics only', async () => {
    const topicsOf = (event: ClientEvent) => event.json<{ topic: string }>().topic;
    const options = (topics: string[]): ClientOptions => ({ topics, share: { group: 'union', topicsOf } });
    const books = openTab(options(['https://example.com/books/{id}']));
    await eventually(() => books.client.state === 'open', 5000, 'books open');
    const authors = openTab(options(['https://example.com/authors/1']));
    await eventually(() => authors.client.state === 'open', 5000, 'authors open');
    const post = (topic: string, n: number) => send(topic, JSON.stringify({ topic, n }));
    const book = (n: number) => post(`https://example.com/books/${n}`, n);
    const author = (n: number) => post('https://example.com/authors/1', n);
    const bookIds = [await book(1)];
    const authorIds = [await author(2)];
    bookIds.push(await book(3));
    await eventually(() => books.events.length === 2 && authors.events.length === 1, 5000, 'first events');
    expect(await hubSubscriptions(hub)).toBe(1);

    // A third tab widens the union while events flow: the leader reconnects from the group's
    // cursor, and the first two tabs' views go on exactly.
    const publishing = (async () => {
      for (let n = 10; n < 30; n++) {
        if (n % 2 === 0) bookIds.push(await book(n));
        else authorIds.push(await author(n));
      }
    })();
    const everything = openTab(options(['*']));
    await publishing;
    await eventually(() => books.events.length === bookIds.length, 5000, 'every book event');
    await eventually(() => authors.events.length === authorIds.length, 5000, 'every author event');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(books.events.map((event) => event.id)).toEqual(bookIds);
    expect(authors.events.map((event) => event.id)).toEqual(authorIds);
    expect(everything.events.length).toBeGreaterThan(0);
    expect(await hubSubscriptions(hub)).toBe(1);

    // The widest tab leaves while events flow: the union narrows, and the views stay exact.
    const narrowing = (async () => {
      for (let n = 30; n < 50; n++) {
        if (n % 2 === 0) bookIds.push(await book(n));
        else authorIds.push(await author(n));
      }
    })();
    everything.client.close();
    await narrowing;
    await eventually(() => books.events.length === bookIds.length, 5000, 'every book event');
    await eventually(() => authors.events.length === authorIds.length, 5000, 'every author event');
    await delay(100);
    expect(books.events.map((event) => event.id)).toEqual(bookIds);
    expect(authors.events.map((event) => event.id)).toEqual(authorIds);
    await eventually(async () => (await hubSubscriptions(hub)) === 1, 5000, 'one stream');
  });

  it('tabs whose rights differ never share; equal rights in different tokens do', async () => {
    const sign = (subscribe: string[], subject: string, extra: Record<string, unknown> = {}) =>
      new SignJWT({ mercure: { subscribe }, ...extra })
        .setSubject(subject)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(KEY));
    const wide = openTab({ topics: ['rights'], share: true, token: await sign(['rights'], 'alice') });
    const narrow = openTab({ topics: ['rights'], share: true, token: await sign([], 'alice') });
    const twin = openTab({
      topics: ['rights'],
      share: true,
      token: async () => sign(['rights'], 'alice', { nonce: 'another token, same rights' }),
    });
    await eventually(
      () => [wide, narrow, twin].every((tab) => tab.client.state === 'open'),
      5000,
      'all open',
    );
    expect(await hubSubscriptions(hub)).toBe(2);
    expect([wide.client.leading, twin.client.leading].filter(Boolean)).toHaveLength(1);
    expect(narrow.client.leading).toBe(true);

    const secret = await send('rights', 'secret', { private: 'on' });
    const open = await send('rights', 'public');
    await eventually(
      () => wide.events.length === 2 && twin.events.length === 2 && narrow.events.length === 1,
      5000,
      'every event where it may go',
    );
    expect(wide.events.map((event) => event.id)).toEqual([secret, open]);
    expect(twin.events.map((event) => event.id)).toEqual([secret, open]);
    expect(narrow.events.map((event) => event.data)).toEqual(['public']);
  });

  it('a tab that joins a group past the id it wanted to resume after is told so', async () => {
    const first = openTab({ topics: ['late'], share: true });
    await eventually(() => first.client.state === 'open', 5000, 'first open');
    const old = await send('late', 'missed by the newcomer');
    await send('late', 'also missed');
    await eventually(() => first.events.length === 2, 5000, 'first has both');
    const newcomer = openTab({ topics: ['late'], share: true, lastEventId: old });
    await eventually(() => newcomer.resets.length === 1, 5000, 'the reset notice');
    expect(newcomer.resets[0]).toEqual({
      reason: JOINED_SHARED_STREAM,
      lastEventId: old,
      resumeFrom: first.client.lastEventId,
    });
    const next = await send('late', 'after');
    await eventually(() => newcomer.events.length === 1, 5000, 'the next event');
    expect(newcomer.events.map((event) => event.id)).toEqual([next]);
  });

  /** Tokens of `subject` with the rights `subscribe()` gives when each is issued. */
  const tokensOf =
    (subject: string, subscribe: () => string[], refreshes: boolean[] = []) =>
    async ({ refresh }: { refresh: boolean }) => {
      refreshes.push(refresh);
      return new SignJWT({ mercure: { subscribe: subscribe() } })
        .setSubject(subject)
        .setIssuedAt()
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(KEY));
    };

  /** The hub cuts the subject's streams off and refuses its tokens issued until now (a 401). */
  async function cutOff(subject: string): Promise<void> {
    const answer = await publish(`${hub.hubUrl}/disconnect`, { subject }, publisherAuth);
    expect(answer.status).toBe(200);
  }

  it('the leader refreshes a refused token; both tabs go on with every event once', async () => {
    const refreshes: boolean[] = [];
    const token = tokensOf('bob', () => ['refused'], refreshes);
    const leader = openTab({ topics: ['refused'], share: true, token });
    await eventually(() => leader.client.leading && leader.client.state === 'open', 5000, 'leader open');
    const follower = openTab({ topics: ['refused'], share: true, token });
    await eventually(() => follower.client.state === 'open', 5000, 'follower open');
    const ids = [await send('refused', 'before', { private: 'on' })];
    await eventually(() => follower.events.length === 1, 5000, 'the first event');
    await cutOff('bob');
    await eventually(() => refreshes.includes(true), 8000, 'a refresh');
    await eventually(() => leader.client.state === 'open', 8000, 'open again');
    ids.push(await send('refused', 'after', { private: 'on' }));
    await eventually(() => follower.events.length === 2 && leader.events.length === 2, 5000, 'both events');
    expect(leader.events.map((event) => event.id)).toEqual(ids);
    expect(follower.events.map((event) => event.id)).toEqual(ids);
    expect(follower.client.leading).toBe(false);
  });

  it('a leader whose refreshed token carries other rights leaves the group; the group goes on', async () => {
    let moverRights = ['moving'];
    const mover = openTab({ topics: ['moving'], share: true, token: tokensOf('carol', () => moverRights) });
    await eventually(() => mover.client.leading && mover.client.state === 'open', 5000, 'mover leads');
    const stayer = openTab({ topics: ['moving'], share: true, token: tokensOf('carol', () => ['moving']) });
    await eventually(() => stayer.client.state === 'open', 5000, 'stayer open');
    const ids = [await send('moving', 'secret 1', { private: 'on' })];
    await eventually(() => mover.events.length === 1 && stayer.events.length === 1, 5000, 'first event');

    moverRights = []; // the user lost the right to the private topic in this tab: its next token says so
    await cutOff('carol');
    await eventually(() => stayer.client.leading, 8000, 'stayer leads');
    await eventually(() => mover.client.leading && mover.client.state === 'open', 8000, 'mover alone');
    await eventually(() => stayer.client.state === 'open', 8000, 'stayer open again');
    expect(await hubSubscriptions(hub)).toBe(2);
    ids.push(await send('moving', 'secret 2', { private: 'on' }));
    const open = await send('moving', 'public');
    await eventually(() => stayer.events.length === 3 && mover.events.length === 2, 5000, 'the rest');
    expect(stayer.events.map((event) => event.id)).toEqual([...ids, open]);
    expect(mover.events.map((event) => event.data)).toEqual(['secret 1', 'public']);
  });
});

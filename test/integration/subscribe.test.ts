import { afterEach, describe, expect, it } from 'vitest';
import { delay, openStream, publish, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';

let hub: TestHub;
afterEach(async () => {
  await hub?.close();
});

describe('subscribe: headers, opening block, heartbeat', () => {
  it('answers with SSE headers, the Last-Event-ID header and a retry on connect', async () => {
    hub = await startTestHub({ config: { retryMs: 1234 } });
    const stream = await openStream(topicUrl(hub.hubUrl, ['a']));
    expect(stream.response.statusCode).toBe(200);
    expect(stream.response.headers['content-type']).toBe('text/event-stream');
    expect(stream.response.headers['cache-control']).toBe(
      'private, no-cache, no-store, must-revalidate, max-age=0',
    );
    expect(stream.response.headers['x-accel-buffering']).toBe('no');
    expect(stream.response.headers['last-event-id']).toBe('earliest');
    await stream.waitFor(() => stream.retries.length > 0, 5000, 'retry');
    expect(stream.retries).toEqual([1234]);
    expect(stream.text().startsWith(':\n')).toBe(true);
    stream.destroy();
  });

  it('sets the client cursor to the newest event on connect, so a drop before any event loses nothing', async () => {
    hub = await startTestHub();
    const first = await publish(hub.hubUrl, { topic: 'a', data: 'before' });
    const stream = await openStream(topicUrl(hub.hubUrl, ['a']));
    expect(stream.response.headers['last-event-id']).toBe(first.body);
    await stream.waitFor(() => stream.lastEventId() === first.body, 5000, 'opening id');
    expect(stream.events).toEqual([]);
    stream.destroy();
    const missed = await publish(hub.hubUrl, { topic: 'a', data: 'while away' });
    const again = await openStream(topicUrl(hub.hubUrl, ['a']), { 'Last-Event-ID': stream.lastEventId() });
    await again.waitFor(() => again.events.length === 1);
    expect(again.events[0]).toMatchObject({ data: 'while away', lastEventId: missed.body });
    again.destroy();
  });

  it('sends a heartbeat comment on an idle stream, on the wire', async () => {
    hub = await startTestHub({ config: { heartbeatMs: 200 } });
    const idle = await openStream(topicUrl(hub.hubUrl, ['idle']));
    const openingComments = 1;
    await idle.waitFor(() => idle.comments.length > openingComments, 5000, 'a heartbeat');
    expect(idle.text()).toMatch(/\n\n:\n$/);
    expect(idle.events).toEqual([]);
    idle.destroy();
  });

  it('receives only events whose topics match its selectors, including URI templates and *', async () => {
    hub = await startTestHub();
    const exact = await openStream(topicUrl(hub.hubUrl, ['https://example.com/books/1']));
    const template = await openStream(topicUrl(hub.hubUrl, ['https://example.com/books/{id}']));
    const all = await openStream(topicUrl(hub.hubUrl, ['*']));
    await publish(hub.hubUrl, { topic: 'https://example.com/books/1', data: 'one' });
    await publish(hub.hubUrl, { topic: 'https://example.com/books/2', data: 'two' });
    await publish(hub.hubUrl, { topic: 'https://example.com/authors/1', data: 'author' });
    await publish(hub.hubUrl, {
      topic: ['https://example.com/other', 'https://example.com/books/3'],
      data: 'alt',
    });
    await all.waitFor(() => all.events.length === 4);
    await template.waitFor(() => template.events.length === 3);
    await exact.waitFor(() => exact.events.length === 1);
    await delay(50);
    expect(exact.events.map((e) => e.data)).toEqual(['one']);
    expect(template.events.map((e) => e.data)).toEqual(['one', 'two', 'alt']);
    expect(all.events.map((e) => e.data)).toEqual(['one', 'two', 'author', 'alt']);
    for (const stream of [exact, template, all]) stream.destroy();
  });

  it('delivers an event matching several selectors of one subscription once', async () => {
    hub = await startTestHub();
    const stream = await openStream(topicUrl(hub.hubUrl, ['a', 'b', '*', '{x}']));
    await publish(hub.hubUrl, { topic: ['a', 'b'], data: 'once' });
    await publish(hub.hubUrl, { topic: 'c', data: 'next' });
    await stream.waitFor(() => stream.events.length === 2);
    expect(stream.events.map((e) => e.data)).toEqual(['once', 'next']);
    stream.destroy();
  });

  it('keeps type, multi-line data and retry intact on the wire', async () => {
    hub = await startTestHub();
    const stream = await openStream(topicUrl(hub.hubUrl, ['a']));
    await publish(hub.hubUrl, {
      topic: 'a',
      data: 'line 1\nline 2\r\nline 3\r  spaced',
      type: 'update',
      retry: '2500',
    });
    await stream.waitFor(() => stream.events.length === 1);
    expect(stream.events[0]).toMatchObject({ type: 'update', data: 'line 1\nline 2\nline 3\n  spaced' });
    expect(stream.retries).toContain(2500);
    stream.destroy();
  });

  it('refuses a subscription without topics, with too many, or with unsupported draft-08 selectors', async () => {
    hub = await startTestHub({ config: { maxTopicsPerSubscription: 3 } });
    const cases: [string, number, RegExp][] = [
      [hub.hubUrl, 400, /Missing "topic" parameter/],
      [topicUrl(hub.hubUrl, ['']), 400, /Empty "topic"/],
      [topicUrl(hub.hubUrl, ['a', 'b', 'c', 'd']), 400, /Too many topics: at most 3/],
      [`${hub.hubUrl}?match_regex=x`, 400, /Unsupported parameter "match_regex"/],
      [`${hub.hubUrl}?matches=x`, 400, /Unsupported parameter "matches"/],
      [`${hub.hubUrl}?match_urlpattern=x`, 400, /Invalid URL pattern "x": expected an absolute/],
      [topicUrl(hub.hubUrl, ['x'.repeat(3000)]), 400, /Topic too long/],
    ];
    for (const [url, status, reason] of cases) {
      const answer = await rawRequest(url);
      expect(answer.status, url).toBe(status);
      expect(answer.body).toMatch(reason);
      expect(answer.body.trim().split('\n')).toHaveLength(1);
    }
    expect(hub.hub.stats().subscribers).toBe(0);
  });

  it('accepts draft-08 names: match= and last_event_id=', async () => {
    hub = await startTestHub();
    const first = await publish(hub.hubUrl, { topic: 'a', data: '1' });
    await publish(hub.hubUrl, { topic: 'a', data: '2' });
    const stream = await openStream(`${hub.hubUrl}?match=a&last_event_id=${encodeURIComponent(first.body)}`);
    await stream.waitFor(() => stream.events.length === 1);
    expect(stream.events[0]?.data).toBe('2');
    expect(stream.response.headers['mercure-last-event-id']).toBe(first.body);
    stream.destroy();
  });
});

describe('routes', () => {
  it('serves the demo page with a Mercure discovery Link header', async () => {
    hub = await startTestHub();
    const page = await rawRequest(`${hub.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers.link).toBe('</.well-known/mercure>; rel="mercure"');
    expect(page.body).toContain('ssehub demo');
  });

  it('answers unknown routes with 404 and unsupported methods with 405, changing nothing', async () => {
    hub = await startTestHub();
    const notFound = await rawRequest(`${hub.url}/nope`);
    expect(notFound.status).toBe(404);
    expect(notFound.body).toMatch(/^Not found: \/nope/);
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const answer = await rawRequest(hub.hubUrl, { method });
      expect(answer.status).toBe(405);
      expect(answer.headers.allow).toBe('GET, POST, OPTIONS');
      expect(answer.body).toMatch(new RegExp(`^Method ${method} not allowed`));
    }
    expect(await hub.hub.store.head()).toBe('earliest');
  });
});

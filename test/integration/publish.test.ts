import { afterEach, describe, expect, it } from 'vitest';
import { openStream, publish, rawRequest, startTestHub, topicUrl } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';

let hub: TestHub;
afterEach(async () => {
  await hub?.close();
});

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('publish', () => {
  it('answers 200 with the id as plain text, and the event reaches subscribers with that id', async () => {
    hub = await startTestHub();
    const stream = await openStream(topicUrl(hub.hubUrl, ['t']));
    const answer = await publish(hub.hubUrl, { topic: 't', data: 'hello' });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(answer.body).toMatch(/^[0-9a-z]+\.[0-9a-f]{6}-1$/);
    await stream.waitFor(() => stream.events.length === 1);
    expect(stream.events[0]).toMatchObject({ data: 'hello', lastEventId: answer.body, type: 'message' });
    stream.destroy();
  });

  it('honours a publisher-supplied id and resumes from it', async () => {
    hub = await startTestHub();
    const answer = await publish(hub.hubUrl, { topic: 't', data: '1', id: 'urn:uuid:8d1e-custom' });
    expect(answer.body).toBe('urn:uuid:8d1e-custom');
    await publish(hub.hubUrl, { topic: 't', data: '2' });
    const stream = await openStream(topicUrl(hub.hubUrl, ['t']), { 'Last-Event-ID': 'urn:uuid:8d1e-custom' });
    await stream.waitFor(() => stream.events.length === 1);
    expect(stream.events[0]?.data).toBe('2');
    stream.destroy();
  });

  it('treats the presence of "private" as private, even empty', async () => {
    hub = await startTestHub();
    const anonymous = await openStream(topicUrl(hub.hubUrl, ['t']));
    await publish(hub.hubUrl, { topic: 't', data: 'secret', private: '' });
    await publish(hub.hubUrl, { topic: 't', data: 'public' });
    await anonymous.waitFor(() => anonymous.events.length === 1);
    expect(anonymous.events.map((e) => e.data)).toEqual(['public']);
    anonymous.destroy();
  });

  const badInputs: {
    name: string;
    body: string;
    headers?: Record<string, string>;
    status: number;
    reason: RegExp;
  }[] = [
    {
      name: 'LF in id',
      body: 'topic=t&data=x&id=a%0Aevent%3A%20evil',
      status: 400,
      reason: /"id" must not contain CR, LF or NUL/,
    },
    {
      name: 'CR in id',
      body: 'topic=t&data=x&id=a%0Db',
      status: 400,
      reason: /"id" must not contain CR, LF or NUL/,
    },
    {
      name: 'NUL in id',
      body: 'topic=t&data=x&id=a%00b',
      status: 400,
      reason: /"id" must not contain CR, LF or NUL/,
    },
    {
      name: 'CRLF in type',
      body: 'topic=t&data=x&type=a%0D%0Adata%3A%20evil',
      status: 400,
      reason: /"type" must not contain/,
    },
    { name: 'NUL in type', body: 'topic=t&data=x&type=a%00', status: 400, reason: /"type" must not contain/ },
    { name: 'reserved type', body: 'topic=t&data=x&type=ssehub-reset', status: 400, reason: /reserved/ },
    {
      name: 'id starting with #',
      body: 'topic=t&data=x&id=%23frag',
      status: 400,
      reason: /must not start with "#"/,
    },
    {
      name: 'reserved id earliest',
      body: 'topic=t&data=x&id=earliest',
      status: 400,
      reason: /"earliest" is reserved/,
    },
    { name: 'missing topic', body: 'data=x', status: 400, reason: /Missing "topic" parameter/ },
    { name: 'empty topic', body: 'topic=&data=x', status: 400, reason: /Empty "topic"/ },
    { name: 'topic *', body: 'topic=*&data=x', status: 400, reason: /selector, not a topic/ },
    {
      name: 'reserved topic',
      body: 'topic=%2F.well-known%2Fmercure%2Fsubscriptions&data=x',
      status: 400,
      reason: /reserved/,
    },
    {
      name: 'non-numeric retry',
      body: 'topic=t&data=x&retry=10s',
      status: 400,
      reason: /"retry" must be a non-negative integer/,
    },
    {
      name: 'negative retry',
      body: 'topic=t&data=x&retry=-1',
      status: 400,
      reason: /"retry" must be a non-negative integer/,
    },
    {
      name: 'JSON body',
      body: '{"topic":"t"}',
      headers: { 'Content-Type': 'application/json' },
      status: 415,
      reason: /Unsupported Content-Type/,
    },
    {
      name: 'no content type',
      body: 'topic=t',
      headers: { 'Content-Type': '' },
      status: 415,
      reason: /Unsupported Content-Type/,
    },
    {
      name: 'oversized body',
      body: `topic=t&data=${'x'.repeat(2048)}`,
      status: 413,
      reason: /Request body too large: at most 1024 bytes/,
    },
  ];

  it.each(badInputs)(
    'refuses $name with $status and a one-line reason, storing nothing',
    async ({ body, headers, status, reason }) => {
      hub = await startTestHub({ config: { maxBodyBytes: 1024 } });
      const stream = await openStream(topicUrl(hub.hubUrl, ['*']));
      const answer = await rawRequest(hub.hubUrl, { method: 'POST', headers: { ...FORM, ...headers }, body });
      expect(answer.status).toBe(status);
      expect(answer.body).toMatch(reason);
      expect(answer.body.trim().split('\n')).toHaveLength(1);
      expect(await hub.hub.store.head()).toBe('earliest');
      // The hub keeps serving: a good publish still reaches the open stream.
      const ok = await publish(hub.hubUrl, { topic: 't', data: 'fine' });
      expect(ok.status).toBe(200);
      await stream.waitFor(() => stream.events.length === 1);
      expect(stream.events.map((e) => e.data)).toEqual(['fine']);
      stream.destroy();
    },
  );

  it('refuses an oversized body announced by Content-Length before reading it', async () => {
    hub = await startTestHub({ config: { maxBodyBytes: 100 } });
    const answer = await rawRequest(hub.hubUrl, {
      method: 'POST',
      headers: { ...FORM, 'Content-Length': '101' },
      body: 'topic=t&data=' + 'x'.repeat(88),
    });
    expect(answer.status).toBe(413);
  });
});

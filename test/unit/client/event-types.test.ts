import { describe, expectTypeOf, it } from 'vitest';
import { createClient } from '../../../src/client/index.js';
import type { ClientEvent } from '../../../src/client/index.js';

interface Book {
  title: string;
}

describe('typed events', () => {
  it('an event map types each listener’s payload; without one, payloads are unknown', async () => {
    const typed = createClient<{ message: string; 'book.updated': Book }>('http://127.0.0.1:9/hub', {
      signal: AbortSignal.abort(),
    });
    typed.on('book.updated', (event) => {
      expectTypeOf(event).toEqualTypeOf<ClientEvent<Book>>();
      expectTypeOf(event.json()).toEqualTypeOf<Book>();
    });
    typed.on('message', (event) => expectTypeOf(event.json()).toEqualTypeOf<string>());
    // @ts-expect-error: the map names the event types this client listens to
    typed.on('unknown-type', () => undefined);

    const untyped = createClient('http://127.0.0.1:9/hub', { signal: AbortSignal.abort() });
    untyped.on('anything', (event) => {
      expectTypeOf(event.json()).toEqualTypeOf<unknown>();
      expectTypeOf(event.json<Book>()).toEqualTypeOf<Book>();
    });
    await Promise.all([typed.closed, untyped.closed]);
  });
});

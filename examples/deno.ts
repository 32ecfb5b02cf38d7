// Serve ssehub with Deno.serve: the Fetch handler is the server. deno run --allow-net examples/deno.ts
import { Hub } from 'ssehub';
import { createFetchHandler } from 'ssehub/fetch';
import type { FetchHandlerOptions } from 'ssehub/fetch';

export function createHandler(hub = new Hub(), options: FetchHandlerOptions = {}) {
  const mercure = createFetchHandler(hub, options);
  return async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    if (pathname === '/.well-known/mercure') return mercure(request);
    if (request.method === 'POST' && pathname === '/orders') {
      const event = await hub.publish({
        topics: ['https://example.com/orders'],
        data: '{"status":"created"}',
      });
      return new Response(event.id, { status: 201 });
    }
    return new Response('Not found\n', { status: 404 });
  };
}

declare const Deno: {
  serve(options: { port: number }, handler: (request: Request) => Promise<Response>): unknown;
};
if ((import.meta as { main?: boolean }).main) Deno.serve({ port: 8000 }, createHandler());

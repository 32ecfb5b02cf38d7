/**
 * One client per stream for every component of a page: components asking for the same stream (same
 * URL and the same serializable options) hold the same client, counted. The last one to let go closes
 * it, one macrotask later, so React's StrictMode (which unmounts and mounts again at once, in
 * development) and a component moving in the tree keep the stream instead of opening a second one.
 */
import { createClient } from '../client/index.js';
import type { ClientOptions, SseClient } from '../client/index.js';

interface Entry {
  readonly client: SseClient;
  holders: number;
  closing: ReturnType<typeof setTimeout> | undefined;
}

const streams = new Map<string, Entry>();

/** What identifies a stream: the URL and every option that can be compared as data. */
export function streamKey(url: string, options: ClientOptions): string {
  const data: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || typeof value === 'function' || name === 'signal') continue;
    if (name === 'storage' || name === 'clock' || name === 'onlineEvents') continue; // objects with methods
    data[name] = name === 'share' && typeof value === 'object' ? { group: value.group } : value;
  }
  return `${url} ${JSON.stringify(data, Object.keys(data).sort())}`;
}

/** Takes a hold on the stream `key`, creating its client on first use; returns it and the release. */
export function holdStream(
  key: string,
  url: string,
  options: ClientOptions,
): { client: SseClient; release: () => void } {
  let entry = streams.get(key);
  if (!entry) {
    entry = { client: createClient(url, options), holders: 0, closing: undefined };
    streams.set(key, entry);
  }
  const held = entry;
  held.holders++;
  if (held.closing !== undefined) clearTimeout(held.closing);
  held.closing = undefined;
  let released = false;
  return {
    client: held.client,
    release: () => {
      if (released) return;
      released = true;
      held.holders--;
      if (held.holders > 0) return;
      held.closing = setTimeout(() => {
        if (held.holders > 0) return;
        streams.delete(key);
        held.client.close();
      }, 0);
    },
  };
}

/** How many streams the page holds now (for tests and debugging panels). */
export function openStreamCount(): number {
  return streams.size;
}

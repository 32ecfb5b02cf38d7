import { ReconnectingClient } from './client.js';
import { SharedClient } from './shared-client.js';
import { shareEnvironment } from './share-protocol.js';
import type { ClientOptions, EventMap, SseClient } from './types.js';

/**
 * Opens a reconnecting event stream. It starts connecting on the next microtask, so listeners added
 * right after this call see every state change and event. With `share`, and where the Web Locks API
 * and BroadcastChannel exist, the stream may be shared with this origin's other tabs; elsewhere
 * (Node.js, older browsers) the same call opens an unshared stream.
 */
export function createClient<Events extends EventMap = EventMap>(
  url: string | URL,
  options: ClientOptions = {},
): SseClient<Events> {
  const environment = options.share ? shareEnvironment() : undefined;
  const client = environment
    ? new SharedClient(url, options, environment)
    : new ReconnectingClient(url, options);
  return client as unknown as SseClient<Events>;
}

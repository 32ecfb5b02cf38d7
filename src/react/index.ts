/**
 * `ssehub/react`: `useEventStream(url, options)`, a React hook over ssehub's reconnecting client:
 * connection state, last event, a callback per event, the reset signal; one stream per page for
 * every component that asks for it, released on the last unmount. `react` is a peer dependency.
 */
export { useEventStream } from './use-event-stream.js';
export type { EventStream, UseEventStreamOptions } from './use-event-stream.js';
export { openStreamCount } from './stream-registry.js';

/**
 * `ssehub/react`: `useEventStream(url, options)`, a React hook over ssehub's reconnecting client:
 * connection state, last event, a callback per event, the reset signal; one stream per page for
 * every component that asks for it, released on the last unmount. `react` is a peer dependency.
 */

/** Subscribes a component to a stream: `{ state, change, lastEvent, reset, client }`. */
export { useEventStream } from './use-event-stream.js';
/** What `useEventStream` returns. */
export type { EventStream } from './use-event-stream.js';
/** `useEventStream`'s settings: the client's options, plus `onEvent`, `onReset` and `enabled`. */
export type { UseEventStreamOptions } from './use-event-stream.js';

import { useEffect, useRef, useState } from 'react';
import type {
  ClientEvent,
  ClientOptions,
  ClientState,
  EventMap,
  ResetNotice,
  SseClient,
  StateChange,
} from '../client/index.js';
import { holdStream, streamKey } from './stream-registry.js';

export interface UseEventStreamOptions extends ClientOptions {
  /** Called with every event, in order. The latest function is called; changing it never reconnects. */
  onEvent?: (event: ClientEvent) => void;
  /** Called when the hub (or the share group) cannot resume where the stream was: refetch state. */
  onReset?: (notice: ResetNotice) => void;
  /** `false` holds no stream (e.g. until a user is known). Default true. */
  enabled?: boolean;
}

export interface EventStream<Events extends EventMap = EventMap> {
  /** `idle` while disabled, then the client's state. */
  readonly state: ClientState | 'idle';
  /** The last state change, with its reason (retrying, closed) or where it resumed (open). */
  readonly change: StateChange | undefined;
  /** The last event received by this component, or undefined before the first. */
  readonly lastEvent: ClientEvent | undefined;
  /** The last reset signal, or undefined. A new one means: events were missed, refetch. */
  readonly reset: ResetNotice | undefined;
  /** The underlying client (shared with the other components using the same stream). */
  readonly client: SseClient<Events> | undefined;
}

/**
 * Subscribes a component to an event stream. Components that ask for the same stream (same URL and
 * options) share one client, and so one connection; with `share` the tabs of the page's origin
 * share it too. The stream is released when the last component using it unmounts.
 *
 * Options that are functions (`token`, `headers`, `fetch`) or objects with methods (`storage`) are
 * taken from the component that opens the stream; the others identify it: changing `topics`, say,
 * moves the component to another stream.
 */
export function useEventStream<Events extends EventMap = EventMap>(
  url: string,
  options: UseEventStreamOptions = {},
): EventStream<Events> {
  const { onEvent, onReset, enabled = true, ...clientOptions } = options;
  const key = streamKey(url, clientOptions);
  const callbacks = useRef({ onEvent, onReset });
  callbacks.current = { onEvent, onReset };
  const latestOptions = useRef(clientOptions);
  latestOptions.current = clientOptions;

  const [view, setView] = useState<EventStream<Events>>(idle);

  useEffect(() => {
    if (!enabled) {
      setView(idle);
      return;
    }
    const { client, release } = holdStream(key, url, latestOptions.current);
    const typed = client as unknown as SseClient<Events>;
    setView({
      state: client.state,
      change: undefined,
      lastEvent: undefined,
      reset: undefined,
      client: typed,
    });
    const unsubscribe = [
      client.onAny((event) => {
        setView((current) => ({ ...current, lastEvent: event }));
        callbacks.current.onEvent?.(event);
      }),
      client.onState((change) => setView((current) => ({ ...current, state: change.state, change }))),
      client.onReset((notice) => {
        setView((current) => ({ ...current, reset: notice }));
        callbacks.current.onReset?.(notice);
      }),
    ];
    return () => {
      for (const stop of unsubscribe) stop();
      release();
    };
  }, [key, url, enabled]);

  return view;
}

const idle: EventStream<never> = {
  state: 'idle',
  change: undefined,
  lastEvent: undefined,
  reset: undefined,
  client: undefined,
};

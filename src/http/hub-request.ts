import type { BodyLimits } from './body.js';

/**
 * What the hub reads of a request, whichever server received it: its method, its path with the
 * query, and its headers by lower-case name (cookies and tokens included). Node's `IncomingMessage`
 * is one as it is, so the node:http handlers pass it on unchanged; the Fetch adapter makes one from
 * a `Request`. Authorizers receive it, so one authorizer serves every adapter.
 */
export interface HubRequest {
  readonly method?: string | undefined;
  /** The path and query, e.g. `/.well-known/mercure?topic=a`. */
  readonly url?: string | undefined;
  /** By lower-case name; a repeated header may be an array (Node) or one joined value (Fetch). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * A request's body, as the publish and disconnect logic read it: each server adapter says how its
 * bytes arrive, and when its answer is out (which frees the bytes held against the body budget).
 */
export interface RequestBody {
  /**
   * A body a framework already read and parsed (Express's `urlencoded`, `text` or `raw`): a string,
   * bytes or an object of fields; undefined when the body is still to be read.
   */
  readonly parsed: unknown;
  /** Reads the whole body within its limits: 413, 408 or 503 (the hub-wide budget) past them. */
  read(limits: BodyLimits): Promise<Buffer>;
  /** Runs `callback` once, when the answer is sent or the exchange is abandoned. */
  onAnswered(callback: () => void): void;
}

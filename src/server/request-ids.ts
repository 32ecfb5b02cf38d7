const REQUEST_ID = Symbol('ssehub.requestId');

/**
 * Each request's id (for the answer's `X-Request-Id` and the hub's log lines), kept on the request
 * object itself. Not a WeakMap: every entry of one is an ephemeron the garbage collector traces
 * apart, which a reconnect storm of short-lived requests makes a measurable cost.
 */
export class RequestIds {
  set(req: object, id: string): void {
    (req as Record<symbol, string>)[REQUEST_ID] = id;
  }

  get(req: object): string | undefined {
    return (req as Record<symbol, string | undefined>)[REQUEST_ID];
  }
}

/**
 * Wire constants the hub and the client must agree on. Imports nothing, so the browser client can
 * use it.
 */

/** The event type of the signal sent when a subscriber cannot be resumed where it asked. */
export const RESET_EVENT_TYPE = 'ssehub-reset';

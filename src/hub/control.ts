import type { EventInput, StoredEvent } from '../store/types.js';

/**
 * Hub-to-hub commands travel through the store as events on a reserved topic, so every hub sharing
 * the store (e.g. Redis) acts on them, without a second channel. Publishers cannot use the topic
 * (everything under /.well-known/mercure is refused by publish validation) and no subscriber ever
 * receives it, not even one holding `*` rights.
 */
export const CONTROL_TOPIC = '/.well-known/mercure/ssehub/control';

export type ControlCommand = { action: 'disconnect'; subject: string };

export function controlEvent(command: ControlCommand): EventInput {
  return { topics: [CONTROL_TOPIC], data: JSON.stringify(command), private: true };
}

export function isControlEvent(event: StoredEvent): boolean {
  return event.topics[0] === CONTROL_TOPIC;
}

/**
 * The command an event carries: the one place control events are decoded. Undefined for an
 * ordinary event, and for a control event this version does not understand.
 */
export function controlCommandOf(event: StoredEvent): ControlCommand | undefined {
  if (!isControlEvent(event)) return undefined;
  try {
    const parsed = JSON.parse(event.data) as Partial<ControlCommand>;
    if (parsed.action === 'disconnect' && typeof parsed.subject === 'string') {
      return { action: 'disconnect', subject: parsed.subject };
    }
  } catch {
    // A malformed command is ignored: it cannot come from a publisher, only from a newer hub.
  }
  return undefined;
}

export { Hub } from './hub/hub.js';
export type {
  HubOptions,
  HubObserver,
  HubStats,
  SubscribeOptions,
  Subscription,
  SubscriptionStart,
} from './hub/hub.js';
export type { SubscriberSink, CloseReason } from './hub/subscriber.js';
export { HubInputError } from './hub/validate.js';
export { RESET_EVENT_TYPE } from './protocol/constants.js';
export type { ResetSignal } from './hub/frame.js';
export { compileSelector } from './hub/topic-selector.js';
export type { TopicSelector } from './hub/topic-selector.js';
export { MemoryStore } from './store/memory.js';
export { DEFAULT_HISTORY_SIZE, DEFAULT_REDIS_PREFIX } from './defaults.js';
export type { MemoryStoreOptions } from './store/memory.js';
export { RedisStore } from './store/redis.js';
export type { RedisStoreOptions } from './store/redis.js';
export { StoreUnavailableError } from './store/errors.js';
export { EARLIEST } from './store/types.js';
export type {
  Store,
  StoredEvent,
  EventInput,
  HistoryPage,
  PageRequest,
  ResumePoint,
  ResumeFailure,
  LiveListener,
} from './store/types.js';
export { encodeMessage, encodeComment, EventStreamParser, EventTooLargeError } from './protocol/index.js';
export type { SseMessage, ParsedEvent, ParserHandlers, ParserOptions } from './protocol/index.js';

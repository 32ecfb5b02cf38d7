import type { Database as Connection } from 'better-sqlite3';

export interface RetentionLimits {
  /** Keep the newest this many events (of all topics together). */
  readonly historySize: number;
  /** Also drop events older than this many milliseconds. */
  readonly maxAgeMs: number | undefined;
  /** Also keep at most this many events per topic. */
  readonly perTopic: number | undefined;
}

/** Rows deleted per step: one step takes a few milliseconds, so publishes never wait for trimming. */
const TRIM_CHUNK = 500;
/** How often age limits are enforced when nothing is published. */
const AGE_SWEEP_MS = 1000;

interface SeqTime {
  seq: number;
  time: number;
}

/**
 * Which events the history retains, and the deletion of the others.
 *
 * What is retained is decided at once and exactly: everything at or below `floor()` is gone for
 * readers, whether or not its rows are deleted yet. Deletion then runs in small steps between
 * appends. Per-topic trimming removes single events from the middle of the log; for each topic it
 * records the newest sequence removed (`topic_trims`), so a reader from before it learns that it
 * missed something instead of silently skipping it.
 */
export class Retention {
  /** Every event at or below this sequence has been deleted (persisted in `meta`). */
  private deletedThrough: number;
  /** Per topic, the newest sequence removed by the per-topic limit (only those above the floor). */
  private readonly topicTrims = new Map<string, number>();
  /** Topics appended to since their per-topic count was last checked. */
  private readonly topicsToCheck = new Set<string>();
  private scheduled = false;
  private closed = false;
  private readonly sweep: NodeJS.Timeout | undefined;
  private readonly statements: ReturnType<typeof prepare>;

  constructor(
    private readonly db: Connection,
    private readonly limits: RetentionLimits,
    private readonly newestSeq: () => number,
    private readonly now: () => number,
    private readonly warn: (message: string) => void,
  ) {
    this.statements = prepare(db);
    const row = this.statements.getDeletedThrough.get() as { value: string } | undefined;
    this.deletedThrough = row ? Number(row.value) : 0;
    for (const { topic, through } of this.statements.allTopicTrims.all() as {
      topic: string;
      through: number;
    }[]) {
      this.topicTrims.set(topic, through);
    }
    if (limits.maxAgeMs !== undefined) {
      this.sweep = setInterval(() => this.schedule(), AGE_SWEEP_MS);
      this.sweep.unref();
    }
    this.schedule();
  }

  /** The newest sequence that was ever deleted by the global limits (0 when none). */
  get deleted(): number {
    return this.deletedThrough;
  }

  /** Every event at or below this sequence is no longer retained (count and age limits). */
  floor(): number {
    let floor = Math.max(this.deletedThrough, this.newestSeq() - this.limits.historySize);
    if (this.limits.maxAgeMs !== undefined)
      floor = this.ageBoundary(this.now() - this.limits.maxAgeMs, floor);
    return floor;
  }

  /**
   * Whether a reader positioned at `afterSeq` has missed events of these topics (all topics when
   * absent) that the per-topic limit removed.
   */
  missedTopicTrim(afterSeq: number, topics: readonly string[] | undefined): boolean {
    if (this.topicTrims.size === 0) return false;
    if (topics === undefined) {
      for (const through of this.topicTrims.values()) if (through > afterSeq) return true;
      return false;
    }
    return topics.some((topic) => (this.topicTrims.get(topic) ?? 0) > afterSeq);
  }

  /** The newest sequence removed that a reader of these topics (all when absent) may have wanted. */
  trimmedThrough(topics: readonly string[] | undefined): number {
    let through = this.floor();
    for (const [topic, trimmed] of this.topicTrims) {
      if (topics === undefined || topics.includes(topic)) through = Math.max(through, trimmed);
    }
    return through;
  }

  /** Called after each committed batch. */
  appended(topics: Iterable<string>): void {
    if (this.limits.perTopic !== undefined) for (const topic of topics) this.topicsToCheck.add(topic);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      try {
        if (this.step()) this.schedule();
      } catch (error) {
        // Trimming is retried on the next append; the history only grows meanwhile.
        this.warn(`trimming failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }

  /** One bounded step of deletion; true when there is more to do. */
  private step(): boolean {
    const floor = this.floor();
    if (floor > this.deletedThrough) {
      const through = Math.min(floor, this.deletedThrough + TRIM_CHUNK);
      this.db.transaction(() => {
        this.statements.deleteEvents.run(this.deletedThrough, through);
        this.statements.deleteEventTopics.run(this.deletedThrough, through);
        this.statements.setDeletedThrough.run(String(through));
        this.statements.forgetTopicTrims.run(through);
      })();
      this.deletedThrough = through;
      for (const [topic, trimmed] of this.topicTrims) if (trimmed <= through) this.topicTrims.delete(topic);
      return through < floor;
    }
    const topic = this.topicsToCheck.values().next();
    if (topic.done) return false;
    if (!this.trimTopic(topic.value, floor)) this.topicsToCheck.delete(topic.value);
    return this.topicsToCheck.size > 0;
  }

  /** Deletes up to one chunk of a topic's events beyond its limit; true when more remain. */
  private trimTopic(topic: string, floor: number): boolean {
    const limit = this.limits.perTopic as number;
    const boundary = this.statements.topicBoundary.get(topic, limit) as { seq: number } | undefined;
    if (!boundary) return false;
    const victims = this.statements.topicEventsUpTo.all(topic, floor, boundary.seq, TRIM_CHUNK) as {
      seq: number;
    }[];
    this.db.transaction(() => {
      for (const { seq } of victims) {
        const row = this.statements.eventTopicsOf.all(seq) as { topic: string }[];
        for (const { topic: alsoIn } of row) {
          this.statements.raiseTopicTrim.run({ topic: alsoIn, seq });
          this.topicTrims.set(alsoIn, Math.max(this.topicTrims.get(alsoIn) ?? 0, seq));
        }
        this.statements.deleteEvent.run(seq);
        this.statements.deleteTopicsOfEvent.run(seq);
      }
    })();
    return victims.length === TRIM_CHUNK;
  }

  /**
   * The newest sequence above `floor` whose event is older than `cutoff`, by binary search: times
   * never decrease along the log (the store clamps them), and sequences may have holes.
   */
  private ageBoundary(cutoff: number, floor: number): number {
    let older = floor;
    let newer = this.newestSeq() + 1;
    while (newer - older > 1) {
      const middle = Math.floor((older + newer) / 2);
      const event = this.statements.firstAtOrAfter.get(middle) as SeqTime | undefined;
      if (event && event.seq < newer && event.time < cutoff) older = event.seq;
      else newer = middle;
    }
    return older;
  }
}

function prepare(db: Connection) {
  return {
    getDeletedThrough: db.prepare("SELECT value FROM meta WHERE key = 'deleted_through'"),
    setDeletedThrough: db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('deleted_through', ?)"),
    allTopicTrims: db.prepare('SELECT topic, through FROM topic_trims'),
    forgetTopicTrims: db.prepare('DELETE FROM topic_trims WHERE through <= ?'),
    raiseTopicTrim: db.prepare(
      'INSERT INTO topic_trims (topic, through) VALUES (@topic, @seq) ON CONFLICT (topic) DO UPDATE SET through = max(through, @seq)',
    ),
    deleteEvents: db.prepare('DELETE FROM events WHERE seq > ? AND seq <= ?'),
    deleteEventTopics: db.prepare('DELETE FROM event_topics WHERE seq > ? AND seq <= ?'),
    deleteEvent: db.prepare('DELETE FROM events WHERE seq = ?'),
    deleteTopicsOfEvent: db.prepare('DELETE FROM event_topics WHERE seq = ?'),
    eventTopicsOf: db.prepare('SELECT topic FROM event_topics WHERE seq = ?'),
    // The sequence of the topic's newest event that is beyond the limit (the limit-th from the end).
    topicBoundary: db.prepare(
      'SELECT seq FROM event_topics WHERE topic = ? ORDER BY seq DESC LIMIT 1 OFFSET ?',
    ),
    topicEventsUpTo: db.prepare(
      'SELECT seq FROM event_topics WHERE topic = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
    ),
    firstAtOrAfter: db.prepare('SELECT seq, time FROM events WHERE seq >= ? ORDER BY seq LIMIT 1'),
  };
}

// Answers being generated, each streamed onto its own topic, with a snapshot for (re)joining pages.
import { randomUUID } from 'node:crypto';
import type { Hub } from 'ssehub';
import { generate } from './model.js';

export type AnswerStatus = 'generating' | 'done' | 'stopped';

/** What a page needs to (re)join an answer: the text so far and the id the stream continues after. */
export interface AnswerSnapshot {
  id: string;
  topic: string;
  status: AnswerStatus;
  /** The text of every token up to `resumeAfter` (empty once finished: the final event has it). */
  text: string;
  /** Subscribe after this id: the events that follow complete `text` exactly. */
  resumeAfter: string;
}

interface Answer {
  readonly id: string;
  readonly topic: string;
  readonly question: string;
  status: AnswerStatus;
  text: string;
  /** The id of the last token event in `text`: text and id change together, after each publish. */
  lastTokenId: string;
  tokens: number;
  readonly stop: AbortController;
  /** Settles once the final event is published. */
  finished?: Promise<void>;
}

export interface GenerationOptions {
  tokenCount: number;
  intervalMs: number;
}

export class Answers {
  private readonly answers = new Map<string, Answer>();

  constructor(
    private readonly hub: Hub,
    private readonly generation: GenerationOptions,
  ) {}

  /**
   * Starts generating. The answer's events go on its own topic: `token` events while generating,
   * then one `final` event with the whole text and how it ended. Generation belongs to the server:
   * no subscriber's connection starts or ends it.
   */
  async start(question: string): Promise<AnswerSnapshot> {
    const id = randomUUID();
    const topic = `https://example.com/answers/${id}`;
    // The opening event gives the answer a resume point before its first token.
    const opened = await this.hub.publish({ topics: [topic], type: 'started', data: '{}' });
    const answer: Answer = {
      id,
      topic,
      question,
      status: 'generating',
      text: '',
      lastTokenId: opened.id,
      tokens: 0,
      stop: new AbortController(),
    };
    this.answers.set(id, answer);
    answer.finished = this.run(answer);
    return this.snapshot(id)!;
  }

  /**
   * Ends generation (the Stop button's own request) and resolves once the final event is published;
   * false when the answer is unknown. Stopping a finished answer changes nothing.
   */
  async stop(id: string): Promise<boolean> {
    const answer = this.answers.get(id);
    if (!answer) return false;
    answer.stop.abort();
    await answer.finished;
    return true;
  }

  snapshot(id: string): AnswerSnapshot | undefined {
    const answer = this.answers.get(id);
    if (!answer) return undefined;
    const finished = answer.status !== 'generating';
    // A finished answer is replayed compactly: after its last token, only the final event follows.
    return {
      id,
      topic: answer.topic,
      status: answer.status,
      text: finished ? '' : answer.text,
      resumeAfter: answer.lastTokenId,
    };
  }

  /** How many token events an answer published (tests check that Stop stops them). */
  tokensPublished(id: string): number {
    return this.answers.get(id)?.tokens ?? 0;
  }

  private async run(answer: Answer): Promise<void> {
    const options = { ...this.generation, signal: answer.stop.signal };
    for await (const token of generate(answer.question, options)) {
      const event = await this.hub.publish({
        topics: [answer.topic],
        type: 'token',
        data: JSON.stringify({ text: token }),
      });
      answer.text += token;
      answer.lastTokenId = event.id;
      answer.tokens++;
    }
    answer.status = answer.stop.signal.aborted ? 'stopped' : 'done';
    await this.hub.publish({
      topics: [answer.topic],
      type: 'final',
      data: JSON.stringify({ status: answer.status, text: answer.text, tokens: answer.tokens }),
    });
  }
}

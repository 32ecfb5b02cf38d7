// A simulated language model: streams a deterministic answer, one token at a time, with no network.

/** The whole answer the model will give to `question` (tests compare what pages show with it). */
export function answerFor(question: string, tokenCount: number): string[] {
  const words = ['streams', 'resume', 'exactly', 'after', 'the', 'last', 'id', 'they', 'saw', 'so'];
  let seed = [...question].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) >>> 0, 7);
  const tokens: string[] = [];
  for (let index = 0; index < tokenCount; index++) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    const word = words[(seed >>> 16) % words.length]!;
    tokens.push(index === 0 ? word[0]!.toUpperCase() + word.slice(1) : ` ${word}`);
  }
  return tokens;
}

/** Yields the answer's tokens, one every `intervalMs`, until done or `signal` aborts. */
export async function* generate(
  question: string,
  options: { tokenCount: number; intervalMs: number; signal: AbortSignal },
): AsyncGenerator<string> {
  for (const token of answerFor(question, options.tokenCount)) {
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
    if (options.signal.aborted) return;
    yield token;
  }
}

/**
 * Matching topics against RFC 6570 URI templates without backtracking.
 *
 * A template such as `https://ex.com/{+path}{.ext}` is compiled into a nondeterministic automaton:
 * literal text becomes a chain of states, and each expression becomes a small loop over the
 * characters its operator may expand to. A topic is matched by walking it once while tracking the
 * set of states the automaton could be in (Thompson's simulation). Each character is looked at once
 * per reachable state, so a match costs at most O(states × topic length) whatever the template:
 * adjacent or ambiguous expressions (`{+a}{+b}`, `{.a}` against many dots) cannot make it
 * exponential, as they did with the backtracking regular expressions this replaces.
 *
 * The language of each operator is that of the regular expressions used before (kept as the test
 * oracle), so what matches did not change:
 *
 * | operator | expands to                 |
 * |----------|----------------------------|
 * | (none)   | `U*(,U*)*`                 |
 * | `+`      | `R*`                       |
 * | `#`      | `(#R*)?`                   |
 * | `.`      | `(\.U*)*`                  |
 * | `/`      | `(/U*)*`                   |
 * | `;`      | `(;[^;/?#]*)*`             |
 * | `?`      | `(\?[^#]*)?`               |
 * | `&`      | `(&[^#]*)*`                |
 *
 * where U is an unreserved character or a %XX escape and R a reserved or unreserved one or a %XX
 * escape. Characters are UTF-16 code units, as in a regular expression without the `u` flag.
 */

/** What a character edge accepts: one exact character, or a class. */
const EXACT = 0;
const UNRESERVED = 1;
const RESERVED = 2;
const HEX_DIGIT = 3;
/** Anything but `;`, `/`, `?` or `#`: the value of a `;` parameter. */
const PARAMETER_VALUE = 4;
/** Anything but `#`: the query of a `?` or `&` expression. */
const NOT_FRAGMENT = 5;
type CharacterKind = 0 | 1 | 2 | 3 | 4 | 5;

const UNRESERVED_BIT = 1;
const RESERVED_BIT = 2;
const HEX_BIT = 4;
const ASCII_CLASSES = new Uint8Array(128);
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
for (const [characters, bit] of [
  [`${ALPHANUMERIC}-._~`, UNRESERVED_BIT],
  [`${ALPHANUMERIC}-._~:/?#[]@!$&'()*+,;=`, RESERVED_BIT],
  ['0123456789ABCDEFabcdef', HEX_BIT],
] as const) {
  for (let i = 0; i < characters.length; i++) ASCII_CLASSES[characters.charCodeAt(i)]! |= bit;
}

const code = (character: string) => character.charCodeAt(0);
const SEMICOLON = code(';');
const SLASH = code('/');
const QUESTION_MARK = code('?');
const HASH = code('#');

function inClass(bit: number, character: number): boolean {
  return character < 128 && (ASCII_CLASSES[character]! & bit) !== 0;
}

function accepts(kind: CharacterKind, expected: number, character: number): boolean {
  switch (kind) {
    case EXACT:
      return character === expected;
    case UNRESERVED:
      return inClass(UNRESERVED_BIT, character);
    case RESERVED:
      return inClass(RESERVED_BIT, character);
    case HEX_DIGIT:
      return inClass(HEX_BIT, character);
    case PARAMETER_VALUE:
      return (
        character !== SEMICOLON && character !== SLASH && character !== QUESTION_MARK && character !== HASH
      );
    case NOT_FRAGMENT:
      return character !== HASH;
  }
}

interface Edge {
  kind: CharacterKind;
  expected: number;
  to: number;
}

/** Builds the automaton: states, their character edges, and their empty (epsilon) edges. */
class AutomatonBuilder {
  readonly edges: Edge[][] = [];
  readonly links: number[][] = [];

  state(): number {
    this.edges.push([]);
    this.links.push([]);
    return this.edges.length - 1;
  }

  /** A fresh state reached from `from` without reading anything. */
  stateAfter(from: number): number {
    const state = this.state();
    this.link(from, state);
    return state;
  }

  link(from: number, to: number): void {
    this.links[from]!.push(to);
  }

  edge(from: number, kind: CharacterKind, expected: number, to: number): void {
    this.edges[from]!.push({ kind, expected, to });
  }

  /** `text` exactly; returns the state after it. */
  literal(from: number, text: string): number {
    let state = from;
    for (let i = 0; i < text.length; i++) {
      const next = this.state();
      this.edge(state, EXACT, text.charCodeAt(i), next);
      state = next;
    }
    return state;
  }

  /** Any number of units, each one character of `kind` or a %XX escape; returns the loop state. */
  escapedRun(from: number, kind: typeof UNRESERVED | typeof RESERVED): number {
    const loop = this.stateAfter(from);
    const percent = this.state();
    const firstDigit = this.state();
    this.edge(loop, kind, 0, loop);
    this.edge(loop, EXACT, code('%'), percent);
    this.edge(percent, HEX_DIGIT, 0, firstDigit);
    this.edge(firstDigit, HEX_DIGIT, 0, loop);
    return loop;
  }

  /** Any number of characters of `kind`; returns the loop state. */
  run(from: number, kind: typeof PARAMETER_VALUE | typeof NOT_FRAGMENT): number {
    const loop = this.stateAfter(from);
    this.edge(loop, kind, 0, loop);
    return loop;
  }

  /** `(prefix body)*` or `(prefix body)?`; returns the state after it. */
  prefixed(from: number, prefix: string, body: (from: number) => number, times: 'any' | 'optional'): number {
    const entry = this.stateAfter(from);
    const afterPrefix = this.state();
    this.edge(entry, EXACT, code(prefix), afterPrefix);
    const end = body(afterPrefix);
    if (times === 'any') {
      this.link(end, entry);
      return entry;
    }
    const exit = this.stateAfter(entry);
    this.link(end, exit);
    return exit;
  }

  /** What the expression `{<operator>…}` may expand to; returns the state after it. */
  expression(from: number, operator: string): number {
    const unreserved = (start: number) => this.escapedRun(start, UNRESERVED);
    switch (operator) {
      case '+':
        return this.escapedRun(from, RESERVED);
      case '#':
        return this.prefixed(from, '#', (start) => this.escapedRun(start, RESERVED), 'optional');
      case '.':
      case '/':
        return this.prefixed(from, operator, unreserved, 'any');
      case ';':
        return this.prefixed(from, ';', (start) => this.run(start, PARAMETER_VALUE), 'any');
      case '?':
        return this.prefixed(from, '?', (start) => this.run(start, NOT_FRAGMENT), 'optional');
      case '&':
        return this.prefixed(from, '&', (start) => this.run(start, NOT_FRAGMENT), 'any');
      default:
        // `U*(,U*)*`: comma-separated values.
        return this.prefixed(this.escapedRun(from, UNRESERVED), ',', unreserved, 'any');
    }
  }
}

export interface TemplateMatcher {
  matches(topic: string): boolean;
}

/** The parts of a template: literal text and expressions (`{…}`, given by their operator). */
export type TemplatePart = { literal: string } | { operator: string };

/** Compiles parsed template parts into a matcher that never backtracks. */
export function templateMatcher(parts: readonly TemplatePart[]): TemplateMatcher {
  const builder = new AutomatonBuilder();
  const start = builder.state();
  let end = start;
  const nonAscii = new Set<number>();
  for (const part of parts) {
    if ('literal' in part) {
      end = builder.literal(end, part.literal);
      for (let i = 0; i < part.literal.length; i++) {
        if (part.literal.charCodeAt(i) >= 128) nonAscii.add(part.literal.charCodeAt(i));
      }
    } else {
      end = builder.expression(end, part.operator);
    }
  }
  return new CachingMatcher(new Automaton(builder.edges, builder.links, start, end), nonAscii);
}

/** A set of automaton states, sorted, so equal sets have equal keys. */
type StateSet = Int32Array;

/**
 * The automaton: simulated over a set of active states, it never backtracks. Edges are kept in
 * flat typed arrays and the per-position work in preallocated buffers, because with hundreds of
 * expressions every state can be active at every position.
 */
class Automaton {
  /** State s's character edges are entries edgeStart[s] to edgeStart[s + 1] - 1; likewise links. */
  private readonly edgeStart: Int32Array;
  private readonly edgeKind: Uint8Array;
  private readonly edgeExpected: Uint16Array;
  private readonly edgeTo: Int32Array;
  private readonly linkStart: Int32Array;
  private readonly linkTo: Int32Array;
  /** Marks the states already added for the current position (by generation, so never cleared). */
  private readonly seenAt: Uint32Array;
  private generation = 0;
  private readonly pending: Int32Array;
  private readonly reached: Int32Array;
  readonly size: number;

  constructor(
    edges: readonly (readonly Edge[])[],
    links: readonly (readonly number[])[],
    private readonly start: number,
    private readonly accept: number,
  ) {
    this.size = edges.length;
    this.edgeStart = new Int32Array(this.size + 1);
    this.linkStart = new Int32Array(this.size + 1);
    const allEdges = edges.flat();
    this.edgeKind = Uint8Array.from(allEdges, (edge) => edge.kind);
    this.edgeExpected = Uint16Array.from(allEdges, (edge) => edge.expected);
    this.edgeTo = Int32Array.from(allEdges, (edge) => edge.to);
    this.linkTo = Int32Array.from(links.flat());
    for (let state = 0; state < this.size; state++) {
      this.edgeStart[state + 1] = this.edgeStart[state]! + edges[state]!.length;
      this.linkStart[state + 1] = this.linkStart[state]! + links[state]!.length;
    }
    this.seenAt = new Uint32Array(this.size);
    this.pending = new Int32Array(this.size);
    this.reached = new Int32Array(this.size);
  }

  initial(): StateSet {
    const generation = this.nextGeneration();
    this.seenAt[this.start] = generation;
    this.pending[0] = this.start;
    return this.closure(1, generation);
  }

  /** The states reached from `states` by reading `character`. */
  step(states: StateSet, character: number): StateSet {
    const generation = this.nextGeneration();
    // A state enters `pending` at most once per generation (it is marked when pushed): that bounds
    // the work, and the buffer.
    let top = 0;
    for (const state of states) {
      for (let e = this.edgeStart[state]!; e < this.edgeStart[state + 1]!; e++) {
        const target = this.edgeTo[e]!;
        if (
          this.seenAt[target] !== generation &&
          accepts(this.edgeKind[e]! as CharacterKind, this.edgeExpected[e]!, character)
        ) {
          this.seenAt[target] = generation;
          this.pending[top++] = target;
        }
      }
    }
    return this.closure(top, generation);
  }

  accepting(states: StateSet): boolean {
    return states.includes(this.accept);
  }

  /**
   * The first `top` states of `pending` and every state their empty edges lead to, each once,
   * sorted. Only states that can read a character, or accept, are kept: the others matter for
   * nothing at the next position.
   */
  private closure(top: number, generation: number): StateSet {
    const pending = this.pending;
    let reached = 0;
    while (top > 0) {
      const state = pending[--top]!;
      if (this.edgeStart[state + 1]! > this.edgeStart[state]! || state === this.accept) {
        this.reached[reached++] = state;
      }
      for (let l = this.linkStart[state]!; l < this.linkStart[state + 1]!; l++) {
        const next = this.linkTo[l]!;
        if (this.seenAt[next] !== generation) {
          this.seenAt[next] = generation;
          pending[top++] = next;
        }
      }
    }
    return this.reached.slice(0, reached).sort();
  }

  private nextGeneration(): number {
    if (this.generation === 0xffffffff) {
      this.seenAt.fill(0);
      this.generation = 0;
    }
    return ++this.generation;
  }
}

/**
 * Remembers the automaton's steps (state set, character class) → state set, building a
 * deterministic automaton lazily: a topic whose characters lead through known sets costs O(1) per
 * character, so long topics of dots or slashes against hundreds of expressions stay cheap. A step
 * not seen before costs one simulation step, O(states): never worse than simulating. The memory
 * kept is bounded in proportion to the template, and dropped when full.
 */
class CachingMatcher implements TemplateMatcher {
  private readonly idOfSet = new Map<string, number>();
  private sets: StateSet[] = [];
  private readonly transitions = new Map<number, number>();
  private cachedStates = 0;
  /** Counts the times the cache was emptied. */
  private epoch = 0;
  private readonly budget: number;
  /** Every character ≥ 128 that is not in a literal behaves alike: one class for all. */
  private readonly otherClass: number;
  private readonly classOfNonAscii: Map<number, number>;

  constructor(
    private readonly automaton: Automaton,
    nonAsciiLiterals: ReadonlySet<number>,
  ) {
    this.classOfNonAscii = new Map([...nonAsciiLiterals].map((character, i) => [character, 129 + i]));
    this.otherClass = 128;
    // A few sets' worth: enough for the handful of sets real templates go through, and small next
    // to the automaton itself, since a subscriber chooses how many templates the hub keeps.
    this.budget = 4 * automaton.size + 256;
  }

  matches(topic: string): boolean {
    let current = this.idOf(this.automaton.initial());
    const classCount = 129 + this.classOfNonAscii.size;
    for (let i = 0; i < topic.length; i++) {
      const character = topic.charCodeAt(i);
      const key = current * classCount + this.classOf(character);
      let next = this.transitions.get(key);
      if (next === undefined) {
        const states = this.automaton.step(this.sets[current]!, character);
        if (states.length === 0) return false;
        const epoch = this.epoch;
        next = this.idOf(states);
        // idOf may have emptied the cache: `current` and `key` then name nothing any more.
        if (epoch === this.epoch) {
          this.transitions.set(key, next);
          this.cachedStates++;
        }
      }
      current = next;
    }
    return this.automaton.accepting(this.sets[current]!);
  }

  private classOf(character: number): number {
    return character < 128 ? character : (this.classOfNonAscii.get(character) ?? this.otherClass);
  }

  private idOf(states: StateSet): number {
    const key = states.join(',');
    const known = this.idOfSet.get(key);
    if (known !== undefined) return known;
    this.cachedStates += states.length + 1;
    if (this.cachedStates > this.budget) {
      this.idOfSet.clear();
      this.transitions.clear();
      this.sets = [];
      this.epoch++;
      this.cachedStates = states.length + 1;
    }
    this.sets.push(states);
    this.idOfSet.set(key, this.sets.length - 1);
    return this.sets.length - 1;
  }
}

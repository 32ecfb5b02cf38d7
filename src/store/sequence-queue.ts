/**
 * A first-in, first-out line of sequence numbers whose `shift` costs O(1) amortized. An array's own
 * `shift` moves every element once the array is large (V8 cannot trim it in place), so a topic with
 * a large retained count made each append cost in proportion to the count.
 */
export class SequenceQueue {
  private items: number[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The oldest, or undefined when empty. */
  peek(): number | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  push(sequence: number): void {
    this.items.push(sequence);
  }

  shift(): number | undefined {
    if (this.head >= this.items.length) return undefined;
    const oldest = this.items[this.head++];
    // Compacts once the consumed prefix is half the array: each element is copied O(1) times.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return oldest;
  }
}

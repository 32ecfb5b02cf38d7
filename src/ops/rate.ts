/** Events per second over the last few whole seconds, from one-second buckets (no timers). */
export class RateMeter {
  private readonly buckets: number[];
  private currentSecond: number;

  constructor(
    private readonly windowSeconds = 5,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowSeconds + 1).fill(0);
    this.currentSecond = Math.floor(this.now() / 1000);
  }

  mark(count = 1): void {
    this.advance();
    this.buckets[this.currentSecond % this.buckets.length]! += count;
  }

  /** Average rate over the last `windowSeconds` completed seconds. */
  perSecond(): number {
    this.advance();
    let total = 0;
    for (let i = 1; i <= this.windowSeconds; i++) {
      total += this.buckets[(this.currentSecond - i) % this.buckets.length] ?? 0;
    }
    return total / this.windowSeconds;
  }

  private advance(): void {
    const second = Math.floor(this.now() / 1000);
    if (second === this.currentSecond) return;
    const steps = Math.min(second - this.currentSecond, this.buckets.length);
    for (let i = 1; i <= steps; i++) this.buckets[(this.currentSecond + i) % this.buckets.length] = 0;
    this.currentSecond = second;
  }
}

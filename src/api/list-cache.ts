/** A kept answer: the JSON text and its entity tag (http/conditional.ts). */
export interface CachedAnswer {
  body: string;
  etag: string;
  /**
   * Epoch ms after which the answer is stale even without a change
   * notification: a maintenance window starts or ends then, and `maintenance`
   * is a function of the clock.
   */
  expiresAt?: number;
}

/**
 * The answers of /issues and /issues/by-object (what the panel polls), by
 * parsed query, between two changes of the incidents table. Dropped on every
 * change notification (db/incident-changes.ts); while the notifications
 * cannot be heard, nothing is served from it or put in it.
 *
 * A read that started before a change may finish after the notification:
 * `generation` tells, and its answer is not kept.
 */
export class IncidentListCache {
  private readonly entries = new Map<string, CachedAnswer>();
  private size = 0;
  private generation = 0;
  private listening = false;

  /**
   * `maxChars` bounds the answers kept, in characters (≈ bytes for JSON).
   * Bounded by size, not count: one limit=500 page is ~300 KB, and a client
   * paging through everything, or anyone varying a query string, must not
   * grow a Pi's collector by tens of megabytes. Least recently used goes first.
   */
  constructor(private readonly maxChars = 4 * 1024 * 1024) {}

  /** Before reading the database: pass the result to `put`. */
  begin(): number {
    return this.generation;
  }

  get(key: string, nowMs = Date.now()): CachedAnswer | undefined {
    if (!this.listening) return undefined;
    const answer = this.entries.get(key);
    if (answer?.expiresAt !== undefined && nowMs >= answer.expiresAt) {
      this.remove(key);
      return undefined;
    }
    if (answer !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, answer);
    }
    return answer;
  }

  put(key: string, answer: CachedAnswer, generation: number): void {
    if (!this.listening || generation !== this.generation) return;
    this.remove(key);
    // One answer may not take more than a quarter of the room.
    if (answer.body.length > this.maxChars / 4) return;
    while (this.size + answer.body.length > this.maxChars) this.remove(this.entries.keys().next().value!);
    this.entries.set(key, answer);
    this.size += answer.body.length;
  }

  /** Characters held. */
  get chars(): number {
    return this.size;
  }

  /** False while change notifications cannot be heard: then nothing is served or kept. */
  get isListening(): boolean {
    return this.listening;
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
    this.size = 0;
  }

  setListening(on: boolean): void {
    this.invalidate();
    this.listening = on;
  }

  private remove(key: string): void {
    const old = this.entries.get(key);
    if (old === undefined) return;
    this.entries.delete(key);
    this.size -= old.body.length;
  }
}

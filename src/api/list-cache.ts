/**
 * The answers of /issues and /issues/by-object (what the panel polls), by
 * query string, between two changes of the incidents table. Dropped on every
 * change notification (db/incident-changes.ts); while the notifications
 * cannot be heard, nothing is served from it or put in it.
 *
 * A read that started before a change may finish after the notification:
 * `generation` tells, and its answer is not kept.
 */
export class IncidentListCache {
  private readonly entries = new Map<string, string>();
  private generation = 0;
  private listening = false;

  constructor(private readonly maxEntries = 256) {}

  /** Before reading the database: pass the result to `put`. */
  begin(): number {
    return this.generation;
  }

  get(key: string): string | undefined {
    return this.listening ? this.entries.get(key) : undefined;
  }

  put(key: string, body: string, generation: number): void {
    if (!this.listening || generation !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, body);
  }

  invalidate(): void {
    this.generation++;
    this.entries.clear();
  }

  setListening(on: boolean): void {
    this.invalidate();
    this.listening = on;
  }
}

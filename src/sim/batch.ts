// Group commit: the first call goes out at once; calls made while it is in flight are collected and sent
// together as the next one. Sequential callers see no added latency; concurrent ones share round trips.
export class GroupCommit<T, R> {
  private inflight = false;
  private next?: { items: T[]; resolve: (r: R) => void; reject: (e: unknown) => void; done: Promise<R> };

  constructor(private send: (items: T[]) => Promise<R>) {}

  /** Sends `items` (alone or with others); resolves with the result of the request that carried them and their offset in it. */
  async add(items: T[]): Promise<{ result: R; offset: number }> {
    if (!this.inflight) {
      this.inflight = true;
      try {
        return { result: await this.send(items), offset: 0 };
      } finally {
        this.flush();
      }
    }
    if (!this.next) {
      let resolve!: (r: R) => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<R>((res, rej) => ((resolve = res), (reject = rej)));
      this.next = { items: [], resolve, reject, done };
    }
    const offset = this.next.items.length;
    this.next.items.push(...items);
    return { result: await this.next.done, offset };
  }

  private flush(): void {
    const b = this.next;
    this.next = undefined;
    if (!b) {
      this.inflight = false;
      return;
    }
    this.send(b.items)
      .then(b.resolve, b.reject)
      .finally(() => this.flush());
  }
}

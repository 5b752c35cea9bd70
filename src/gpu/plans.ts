/**
 * The one owner of built plans (a model's forward plans, the NIG engine's sums and chunk plans): a small LRU kept by
 * a memory budget. A plan is leased while in use and never evicted then; before a plan is built, the least recently
 * used plans not in use are destroyed until the bytes kept, plus bytes the caller holds elsewhere (`reserved`: adaptive
 * m's point stores), plus the new plan's fit the budget (the chunk planner's: --max-memory, else DEFAULT_BUDGET). A plan that is built on others (a chunk plan on its forward plan and its sums) leases them for as long as
 * it is kept, so each arena is counted once, by the plan that owns it, and cannot go while a plan built on it stays.
 * Freed arenas go back to the device's pool (src/gpu/pool.ts). Plans that bind buffers of one call alone (`keep:
 * false`) are destroyed when their last lease ends.
 */

/**
 * The memory budget unless --max-memory says otherwise: 2 GiB, whatever the device's maxBufferSize. WebGPU tells no
 * device memory size, and the limit of one buffer is not one: an arena spreads a plan over as many buffers as it
 * needs (each within maxBufferSize, each binding within maxStorageBufferBindingSize: src/gpu/arena.ts), so a device
 * opened with the specification's 256 MiB buffers still runs a 900 MiB plan (BERT-base, one path point at 512
 * tokens). 2 GiB is what the engine allowed on every device whose buffers may be that large, and what lavapipe,
 * SwiftShader and any discrete or integrated GPU of the last decade hold; a device that holds less fails the plan's
 * allocation inside an error scope (Arena.buildChecked), with --max-memory as the advice.
 */
export const DEFAULT_BUDGET = 2 ** 31;

/** A built plan: its value, the bytes it owns, and how to free them (its own arenas, and its leases of other plans). */
export interface Built<T> { value: T; bytes: number; destroy: () => void }

export interface Lease<T> { value: T; release: () => void }

interface Entry { kind: string; built: Promise<Built<unknown>>; done?: Built<unknown>; bytes: number; users: number; keep: boolean }

export interface LeaseOptions {
  kind: string;            // what it is, for the counts ('forward', 'sums', 'chunk')
  bytes: number;           // bytes the plan will own (its planned arenas)
  reserved?: number;       // bytes held elsewhere beside the plans (counted against the budget, never evicted here)
  budget?: number;         // default: the keeper's
  keep?: boolean;          // false: destroyed when its last lease ends (default true)
}

export class PlanKeeper {
  /** In order of use: the first is the least recently used. */
  private entries = new Map<string, Entry>();
  /** Plans built, and plans evicted, per kind. */
  readonly builds = new Map<string, number>();
  readonly evictions = new Map<string, number>();

  constructor(public budget: number) {}

  /** Bytes of the plans kept now (in use or not). */
  get bytes(): number {
    let b = 0;
    for (const e of this.entries.values()) b += e.bytes;
    return b;
  }

  /** Keys of the plans kept, least recently used first. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  built(kind: string): number {
    return this.builds.get(kind) ?? 0;
  }

  /** The plan under `key`, built (after making room) when not kept; release the lease when done with it. */
  async lease<T>(key: string, o: LeaseOptions, build: () => Promise<Built<T>>): Promise<Lease<T>> {
    let e = this.entries.get(key);
    if (e) this.entries.delete(key); // (re-inserted last: the most recently used)
    else {
      this.makeRoom(o.bytes + (o.reserved ?? 0), o.budget ?? this.budget);
      e = { kind: o.kind, built: build(), bytes: o.bytes, users: 0, keep: o.keep ?? true };
      this.builds.set(o.kind, this.built(o.kind) + 1);
    }
    this.entries.set(key, e);
    e.users++;
    let b: Built<unknown>;
    try {
      b = await e.built;
    } catch (err) {
      e.users--;
      if (this.entries.get(key) === e) this.entries.delete(key);
      throw err;
    }
    e.bytes = b.bytes;
    e.done = b;
    const entry = e;
    let released = false;
    return {
      value: b.value as T,
      release: () => {
        if (released) return;
        released = true;
        entry.users--;
        if (!entry.keep && entry.users === 0 && this.entries.get(key) === entry) this.evict(key, entry);
      },
    };
  }

  /** Destroys every plan not in use (e.g. before the model's weights go). */
  clear(): void {
    for (const [k, e] of [...this.entries]) if (e.users === 0) this.evict(k, e);
  }

  /** Evicts unused plans, least recently used first, until `need` more bytes fit the budget (or none is left to evict). */
  makeRoom(need: number, budget = this.budget): void {
    while (this.bytes + need > budget) {
      const victim = [...this.entries].find(([, e]) => e.users === 0);
      if (!victim) return;
      this.evict(...victim);
    }
  }

  private evict(key: string, e: Entry): void {
    this.entries.delete(key);
    this.evictions.set(e.kind, (this.evictions.get(e.kind) ?? 0) + 1);
    // (an entry without users has finished building: its buffers go back to the pool now, before the next plan
    // takes its own)
    e.done?.destroy();
  }
}

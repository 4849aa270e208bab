/*
 * A read-only index over a message Bundle: entries by fullUrl and by type, and reference resolution inside the
 * Bundle. Entries are referenced by their transient `urn:uuid:` fullUrl (BaRS Bundle table: "Transient id relative
 * to the bundle"); relative `Type/id` references are also followed, for ids the receiver assigned earlier.
 */
import type { Bundle, BundleEntry, Resource } from './types.js';

export class BundleIndex {
  readonly bundle: Bundle;
  readonly entries: readonly BundleEntry[];
  private readonly byFullUrl = new Map<string, Resource>();
  private readonly byTypeId = new Map<string, Resource>();

  constructor(bundle: Bundle) {
    this.bundle = bundle;
    this.entries = Array.isArray(bundle.entry) ? bundle.entry : [];
    for (const entry of this.entries) {
      const resource = entry?.resource;
      if (!resource || typeof resource !== 'object') {
        continue;
      }
      if (typeof entry.fullUrl === 'string') {
        this.byFullUrl.set(entry.fullUrl, resource);
      }
      if (typeof resource.id === 'string') {
        this.byTypeId.set(`${resource.resourceType}/${resource.id}`, resource);
      }
    }
  }

  /** Every resource of a type, in entry order. */
  all<T extends Resource = Resource>(type: string): T[] {
    return this.entries.map((e) => e?.resource).filter((r): r is T => !!r && r.resourceType === type);
  }

  first<T extends Resource = Resource>(type: string): T | undefined {
    return this.all<T>(type)[0];
  }

  /** Resolves a Reference (or its `reference` string) to a resource in this Bundle. */
  resolve<T extends Resource = Resource>(ref: unknown): T | undefined {
    const reference = typeof ref === 'string' ? ref : (ref as { reference?: unknown } | undefined)?.reference;
    if (typeof reference !== 'string') {
      return undefined;
    }
    const direct = this.byFullUrl.get(reference) ?? this.byTypeId.get(reference);
    if (direct) {
      return direct as T;
    }
    // An absolute URL ending in Type/id (e.g. https://host/fhir/Patient/123) may match a relative Type/id.
    const m = /([A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(reference);
    return m ? (this.byTypeId.get(m[1]!) as T | undefined) : undefined;
  }

  /** The fullUrl of the entry holding `resource`. */
  fullUrlOf(resource: Resource): string | undefined {
    return this.entries.find((e) => e?.resource === resource)?.fullUrl;
  }
}

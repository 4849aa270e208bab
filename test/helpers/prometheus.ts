/*
 * A parser of the Prometheus text exposition format (0.0.4), enough for tests to read /metrics as a scraper does:
 * `# TYPE` lines and samples `name{label="value",…} number`, label values with \\, \" and \n escapes.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  /** Metric family name → type (counter, gauge, histogram, summary, untyped). */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
  /** The samples of one series name whose labels include `labels`. */
  find(name: string, labels?: Readonly<Record<string, string>>): Sample[];
  /** The value of the one series matching exactly (undefined when absent; throws when several match). */
  value(name: string, labels?: Readonly<Record<string, string>>): number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') {
      throw new Error(`bad labels in: ${line}`);
    }
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j += 1) {
      if (text[j] === '\\') {
        j += 1;
        value += text[j] === 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.length) {
      throw new Error(`unterminated label value in: ${line}`);
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') {
      i += 1;
    }
  }
  return labels;
}

/** Go's ParseFloat, as Prometheus reads values: NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') {
    return Infinity;
  }
  if (lower === '-inf') {
    return -Infinity;
  }
  return lower === 'nan' ? NaN : Number(text);
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) {
        types.set(m[1]!, m[2]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) {
      throw new Error(`not a sample line: ${line}`);
    }
    const value = parseValue(m[4]!);
    if (Number.isNaN(value) && m[4]!.toLowerCase() !== 'nan') {
      throw new Error(`bad value in: ${line}`);
    }
    samples.push({ name: m[1]!, labels: m[3] ? parseLabels(m[3], line) : {}, value });
  }
  const find = (name: string, labels: Readonly<Record<string, string>> = {}): Sample[] =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    types,
    samples,
    find,
    value(name, labels = {}) {
      const found = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (found.length > 1) {
        throw new Error(`${found.length} series match ${name} ${JSON.stringify(labels)}`);
      }
      return found[0]?.value;
    },
  };
}

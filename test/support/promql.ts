/** A series selector of a PromQL expression: the metric it names and the labels its matchers name. */
export interface PromqlSelector {
  metric: string;
  labels: string[];
}

/** The names a PromQL expression reads: its selectors, and the labels of its `by`, `without`, `on`, `ignoring` and `group_*` lists. */
export interface PromqlNames {
  selectors: PromqlSelector[];
  groupingLabels: string[];
}

/** Keywords that take a list of label names in parentheses. */
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
/** Words of PromQL that are neither functions nor metric names. */
const KEYWORDS = new Set([...LABEL_LISTS, 'bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);
const MATCH_OPERATORS = new Set(['=', '!=', '=~', '!~']);
const IDENTIFIER = /^[A-Za-z_:][A-Za-z0-9_:]*$/;

/**
 * The metric and label names `expr` reads, by a tokenizer rather than a parser: promtool checks the syntax,
 * this only tells names apart. An identifier followed by `(`, `by` or `without` is a function or aggregation, one inside `{…}`
 * before a match operator a label, one in a keyword's parenthesised list a label, any other a metric.
 * Strings, durations and ranges (`[5m]`, Grafana's `[$__rate_interval]`) hold no names and are dropped first.
 */
export function promqlNames(expr: string): PromqlNames {
  const text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').replace(/\[[^\]]*\]/g, ' ');
  const tokens: string[] = text.match(/[A-Za-z_:][A-Za-z0-9_:]*|\d[\w.]*|=~|!~|!=|==|>=|<=|\S/g) ?? [];
  const names: PromqlNames = { selectors: [], groupingLabels: [] };
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i] as string;
    const next = tokens[i + 1];
    if (token === '{') throw new Error(`a selector without a metric name is not read here: ${expr}`);
    if (!IDENTIFIER.test(token)) continue;
    if (LABEL_LISTS.has(token) && next === '(') {
      const end = tokens.indexOf(')', i);
      names.groupingLabels.push(...tokens.slice(i + 2, end).filter((word) => IDENTIFIER.test(word)));
      i = end;
    } else if (!KEYWORDS.has(token) && next !== '(' && next !== 'by' && next !== 'without') {
      const selector: PromqlSelector = { metric: token, labels: [] };
      if (next === '{') {
        const end = tokens.indexOf('}', i);
        for (let j = i + 2; j < end; j += 1) if (MATCH_OPERATORS.has(tokens[j + 1] ?? '')) selector.labels.push(tokens[j] as string);
        i = end;
      }
      names.selectors.push(selector);
    }
  }
  return names;
}

/** The label names of each sample name in Prometheus exposition text (a histogram's `_bucket`, `_sum` and `_count` apart). */
export function exportedLabels(text: string): Map<string, Set<string>> {
  const exported = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+/.exec(line);
    if (!sample) continue;
    const labels = exported.get(sample[1] as string) ?? new Set<string>();
    for (const [, label] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g)) labels.add(label as string);
    exported.set(sample[1] as string, labels);
  }
  return exported;
}

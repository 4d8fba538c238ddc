/**
 * JSON laid out for reading, within limits, so that no value a job carries can make the page build
 * text out of proportion to what it shows: a payload of a megabyte, or one nested thousands of levels
 * deep, is read once and shown in part until the reader asks for more.
 *
 * - Depth: containers open `maxDepth` levels down from the top (or from a container the reader
 *   opened); deeper ones are left collapsed, as pieces the view turns into buttons.
 * - Length: text stops after `maxChars` characters; the rest is only counted.
 * - Indentation stops growing after INDENT_LEVELS levels, so the text grows with the value's size,
 *   never with its depth times its size.
 *
 * The walk keeps its own stack rather than recursing, so depth cannot overflow the call stack.
 */

/** A key's place in the value: a link up to the top, so a deep path costs nothing until it is asked for (pathOf). */
export interface PathLink {
  readonly parent: PathLink | null;
  readonly key: string | number;
}

/** A container left closed: the view shows `summary` as a button that opens it (see withOpened). */
export interface Collapsed {
  /** Where the container is; null for the top. */
  at: PathLink | null;
  summary: string;
  /** What a screen reader announces: the summary in words. */
  description: string;
}

export type Piece = string | Collapsed;

/**
 * The containers the reader opened, as a tree of keys from the top: the walk follows it down
 * alongside the value, so telling whether a container was opened costs the same at any depth. Keys
 * rather than the value's objects name them, so they stay open when the value is read again.
 */
export interface Openings {
  readonly open: boolean;
  readonly below: ReadonlyMap<string | number, Openings>;
}

export const NO_OPENINGS: Openings = { open: false, below: new Map() };

export interface JsonLimits {
  maxDepth: number;
  maxChars: number;
  /** Collapsed containers the reader opened: each shows `maxDepth` more levels. */
  opened: Openings;
}

/** Whole lines of the layout: its text, with the collapsed containers between its runs. */
export interface Block {
  pieces: Piece[];
  lines: number;
}

export interface JsonLayout {
  /** The text to show, in blocks of at most BLOCK_LINES lines, each ending in its line break but the last. */
  blocks: Block[];
  /** Characters shown, and characters of the whole layout (collapsed containers as their summaries). */
  shownChars: number;
  totalChars: number;
  truncated: boolean;
}

/** Levels of indentation after which lines are indented no further. */
export const INDENT_LEVELS = 32;

/** A container being laid out: which of its entries comes next, and what its entries inherit. */
interface Frame {
  container: object;
  /** The object's keys; null for an array, whose keys are its indexes. */
  keys: string[] | null;
  length: number;
  next: number;
  depth: number;
  levelsLeft: number;
  at: PathLink | null;
  opened: Openings | undefined;
  close: string;
  suffix: string;
}

/** Line starts by depth: a line break and the indentation, which stops growing after INDENT_LEVELS. */
const LINE_STARTS = Array.from({ length: INDENT_LEVELS + 1 }, (_, depth) => `\n${'  '.repeat(depth)}`);

/** Lines per block of the layout: a block the reader has not scrolled to costs the browser nothing to lay out. */
export const BLOCK_LINES = 500;

/** The keys from the top down to `at`, e.g. `["rows", 3, "tags"]`. */
export function pathOf(at: PathLink | null): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let link = at; link; link = link.parent) keys.push(link.key);
  return keys.reverse();
}

/** `openings` with the container at `path` opened too; the tree given is left as it was. */
export function withOpened(openings: Openings, path: readonly (string | number)[]): Openings {
  // Builds the new branch from the bottom up, without recursion: paths can be thousands of keys long.
  const nodes: Openings[] = [openings];
  for (const key of path) nodes.push(nodes.at(-1)?.below.get(key) ?? NO_OPENINGS);
  let changed: Openings = { open: true, below: (nodes.at(-1) as Openings).below };
  for (let index = path.length - 1; index >= 0; index -= 1) {
    const node = nodes[index] as Openings;
    changed = { open: node.open, below: new Map(node.below).set(path[index] as string | number, changed) };
  }
  return changed;
}

function summaryOf(isArray: boolean, size: number): { summary: string; description: string } {
  const count = isArray ? `${size} ${size === 1 ? 'item' : 'items'}` : `${size} ${size === 1 ? 'key' : 'keys'}`;
  return isArray ? { summary: `[… ${count}]`, description: `Expand an array of ${count}` } : { summary: `{… ${count}}`, description: `Expand an object of ${count}` };
}

/** Lays `value` out as JSON.stringify(value, null, 2) would, within `limits` (see above). */
export function layoutJson(value: unknown, limits: JsonLimits): JsonLayout {
  const blocks: Block[] = [];
  let pieces: Piece[] = [];
  let run: string[] = [];
  let lines = 1;
  let shown = 0;
  let total = 0;
  // Set once something did not fit: from there on everything is only counted, so what is shown is a prefix.
  let full = false;

  const flush = () => {
    if (run.length > 0) pieces.push(run.join(''));
    run = [];
  };
  /** Adds text, as much as still fits. */
  const text = (chunk: string) => {
    total += chunk.length;
    if (full) return;
    const room = limits.maxChars - shown;
    const kept = chunk.length <= room ? chunk : chunk.slice(0, room);
    full = kept.length < chunk.length;
    run.push(kept);
    shown += kept.length;
  };
  /** Starts a line `depth` levels in; past BLOCK_LINES lines, in a new block (after the line break, so blocks join to the text). */
  const line = (depth: number) => {
    const start = LINE_STARTS[Math.min(depth, INDENT_LEVELS)] as string;
    if (full || lines < BLOCK_LINES) {
      if (!full) lines += 1;
      text(start);
      return;
    }
    text('\n');
    flush();
    blocks.push({ pieces, lines });
    pieces = [];
    lines = 1;
    text(start.slice(1));
  };
  /** Adds a collapsed container when its summary fits whole. */
  const collapsed = (piece: Collapsed) => {
    total += piece.summary.length;
    if (full) return;
    if (piece.summary.length > limits.maxChars - shown) {
      full = true;
      return;
    }
    flush();
    pieces.push(piece);
    shown += piece.summary.length;
  };

  const frames: Frame[] = [];
  /** Lays out one value after its key (`prefix`): a line of its own, or the first line of a container, whose entries follow. */
  const visit = (item: unknown, depth: number, levelsLeft: number, parent: Frame | null, key: string | number, prefix: string, suffix: string) => {
    text(prefix);
    if (item === null || typeof item !== 'object') {
      // Anything JSON.stringify leaves out (undefined) is shown as JSON would carry it: null.
      text((JSON.stringify(item) ?? 'null') + suffix);
      return;
    }
    const keys = Array.isArray(item) ? null : Object.keys(item);
    const length = keys ? keys.length : (item as unknown[]).length;
    const [open, close] = keys ? ['{', '}'] : ['[', ']'];
    if (length === 0) {
      text(open + close + suffix);
      return;
    }
    // Links are made for containers only, and paths only on request: leaves, the bulk of a value, cost none.
    const at = parent ? { parent: parent.at, key } : null;
    const opened = parent ? parent.opened?.below.get(key) : limits.opened;
    if (levelsLeft <= 0 && !opened?.open) {
      collapsed({ at, ...summaryOf(keys === null, length) });
      text(suffix);
      return;
    }
    text(open);
    frames.push({ container: item, keys, length, next: 0, depth, levelsLeft: levelsLeft <= 0 ? limits.maxDepth : levelsLeft, at, opened, close, suffix });
  };

  visit(value === undefined ? null : value, 0, limits.maxDepth, null, 0, '', '');
  for (let frame = frames.at(-1); frame; frame = frames.at(-1)) {
    if (frame.next === frame.length) {
      frames.pop();
      line(frame.depth);
      text(frame.close + frame.suffix);
      continue;
    }
    const index = frame.next;
    frame.next += 1;
    const key = frame.keys ? (frame.keys[index] as string) : index;
    line(frame.depth + 1);
    visit(
      (frame.container as Record<string | number, unknown>)[key],
      frame.depth + 1,
      frame.levelsLeft - 1,
      frame,
      key,
      frame.keys ? `${JSON.stringify(key)}: ` : '',
      index < frame.length - 1 ? ',' : '',
    );
  }
  flush();
  if (pieces.length > 0 || blocks.length === 0) blocks.push({ pieces, lines });
  return { blocks, shownChars: shown, totalChars: total, truncated: full };
}

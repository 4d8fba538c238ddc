import { describe, expect, it } from 'vitest';
import { BLOCK_LINES, INDENT_LEVELS, layoutJson, NO_OPENINGS, pathOf, withOpened, type Collapsed, type JsonLayout, type JsonLimits } from '../src/json-layout';

const OPEN: JsonLimits = { maxDepth: Infinity, maxChars: Infinity, opened: NO_OPENINGS };

/** The layout as text, each collapsed container as its summary. */
function textOf(layout: JsonLayout): string {
  return layout.blocks.flatMap((block) => block.pieces.map((piece) => (typeof piece === 'string' ? piece : piece.summary))).join('');
}

function collapsedOf(layout: JsonLayout): Collapsed[] {
  return layout.blocks.flatMap((block) => block.pieces.filter((piece): piece is Collapsed => typeof piece !== 'string'));
}

/** `{"next":{"next":…{"leaf":true}}}`, `depth` objects deep. */
function nested(depth: number): unknown {
  let value: unknown = { leaf: true };
  for (let level = 1; level < depth; level += 1) value = { next: value };
  return value;
}

describe('layoutJson', () => {
  it('lays a value out as JSON.stringify with two spaces would, within its limits', () => {
    const value = { id: 7, name: 'a "quoted"\nline', tags: ['x', 'y'], empty: {}, none: [], nested: { on: true, off: null, n: -1.5e-7 } };
    const layout = layoutJson(value, OPEN);
    expect(textOf(layout)).toBe(JSON.stringify(value, null, 2));
    expect(layout).toMatchObject({ truncated: false, shownChars: layout.totalChars });
    expect(textOf(layoutJson(undefined, OPEN))).toBe('null');
    expect(textOf(layoutJson('just text', OPEN))).toBe('"just text"');
  });

  it('leaves containers past the depth limit collapsed, each opening that many levels more', () => {
    const value = { a: { b: { c: { d: 1 } } }, list: [[1, 2], [3]] };
    const layout = layoutJson(value, { ...OPEN, maxDepth: 2 });
    expect(textOf(layout)).toBe('{\n  "a": {\n    "b": {… 1 key}\n  },\n  "list": [\n    [… 2 items],\n    [… 1 item]\n  ]\n}');
    expect(collapsedOf(layout).map((piece) => [pathOf(piece.at), piece.summary, piece.description])).toEqual([
      [['a', 'b'], '{… 1 key}', 'Expand an object of 1 key'],
      [['list', 0], '[… 2 items]', 'Expand an array of 2 items'],
      [['list', 1], '[… 1 item]', 'Expand an array of 1 item'],
    ]);

    const opened = layoutJson(value, { ...OPEN, maxDepth: 2, opened: withOpened(NO_OPENINGS, ['a', 'b']) });
    expect(textOf(opened)).toContain('"b": {\n      "c": {\n        "d": 1\n      }\n    }');
    expect(collapsedOf(opened).map((piece) => pathOf(piece.at))).toEqual([['list', 0], ['list', 1]]);
  });

  it('keeps what was opened when the value is read again, and opens deeper, level after level', () => {
    const text = JSON.stringify(nested(30));
    const limits = { ...OPEN, maxDepth: 10 };
    const collapsedPaths = (opened = NO_OPENINGS) => collapsedOf(layoutJson(JSON.parse(text), { ...limits, opened })).map((piece) => pathOf(piece.at));
    expect(collapsedPaths()).toEqual([Array(10).fill('next')]);

    const once = withOpened(NO_OPENINGS, Array(10).fill('next'));
    expect(collapsedPaths(once)).toEqual([Array(20).fill('next')]);
    const twice = withOpened(once, Array(20).fill('next'));
    expect(collapsedPaths(twice)).toEqual([]);
    expect(textOf(layoutJson(JSON.parse(text), { ...limits, opened: twice }))).toContain('"leaf": true');
    // Opening leaves the tree it was given as it was.
    expect(collapsedPaths(once)).toEqual([Array(20).fill('next')]);
    expect(collapsedPaths(NO_OPENINGS)).toEqual([Array(10).fill('next')]);
  });

  it('shows a value nested 3,000 deep as a few lines, and in text that grows with its size, never depth times size', () => {
    const deep = nested(3000);
    const collapsed = layoutJson(deep, { ...OPEN, maxDepth: 10 });
    expect(collapsed.totalChars).toBeLessThan(400);
    expect(collapsedOf(collapsed)).toHaveLength(1);

    // Every level open: one line per level, none indented past INDENT_LEVELS.
    const open = layoutJson(deep, OPEN);
    const lines = textOf(open).split('\n');
    expect(lines).toHaveLength(2 * 3000 + 1);
    expect(Math.max(...lines.map((line) => line.length - line.trimStart().length))).toBe(2 * INDENT_LEVELS);
    expect(open.totalChars).toBeLessThan(lines.length * (2 * INDENT_LEVELS + 12));
    // JSON.stringify(deep, null, 2), every line indented as deep as it is, runs to about 2 × 3,000 × 3,000 characters.
    expect(open.totalChars).toBeLessThan((2 * 3000 * 3000) / 10);
  });

  it('stops at the length limit, counting what it leaves out, and shows the whole once the limit is lifted', () => {
    const value = { blob: 'x'.repeat(600_000), rows: Array.from({ length: 5000 }, (_, id) => ({ id })) };
    const whole = JSON.stringify(value, null, 2);
    const cut = layoutJson(value, { ...OPEN, maxChars: 10_000 });
    expect(cut).toMatchObject({ truncated: true, shownChars: 10_000, totalChars: whole.length });
    expect(textOf(cut)).toBe(whole.slice(0, 10_000));

    const all = layoutJson(value, OPEN);
    expect(all).toMatchObject({ truncated: false, shownChars: whole.length });
    expect(textOf(all)).toBe(whole);
  });

  it('comes in blocks of whole lines, each ending in its line break but the last', () => {
    const value = Array.from({ length: 1200 }, (_, id) => id);
    const { blocks } = layoutJson(value, OPEN);
    expect(blocks.map((block) => block.lines)).toEqual([BLOCK_LINES, BLOCK_LINES, 202]);
    const texts = blocks.map((block) => block.pieces.join(''));
    expect(texts.map((text) => text.split('\n').length - 1)).toEqual([BLOCK_LINES, BLOCK_LINES, 201]);
    expect(texts[1]?.startsWith('  499,\n')).toBe(true);
    expect(texts.join('')).toBe(JSON.stringify(value, null, 2));
  });

  it('shows a collapsed container only whole, and nothing after the limit', () => {
    const value = [{ a: 1 }, 'after'];
    const full = textOf(layoutJson(value, { ...OPEN, maxDepth: 1 }));
    expect(full).toBe('[\n  {… 1 key},\n  "after"\n]');
    const cut = layoutJson(value, { ...OPEN, maxDepth: 1, maxChars: 8 });
    expect(cut).toMatchObject({ truncated: true, shownChars: 4, totalChars: full.length, blocks: [{ pieces: ['[\n  '], lines: 2 }] });
  });
});

import { useMemo, useState, useTransition } from 'react';
import { formatCount } from '../format';
import { layoutJson, NO_OPENINGS, pathOf, withOpened, type Block, type Collapsed, type Openings } from '../json-layout';

/** Characters shown until the reader asks for all: enough to read, and quick to draw however large the value. */
const TEXT_LIMIT = 10_000;
/** Levels of nesting shown open; deeper containers wait for a click. */
const DEPTH_LIMIT = 10;

/** A collapsed container: a button showing its size, which opens it in place. */
function CollapsedButton({ piece, open }: { piece: Collapsed; open(path: (string | number)[]): void }) {
  return (
    <button type="button" className="json-toggle" aria-label={piece.description} onClick={() => open(pathOf(piece.at))}>
      {piece.summary}
    </button>
  );
}

/**
 * A block of whole lines. Shown whole, a value may run to hundreds of thousands of lines: then
 * (`lazy`) the browser lays out only the blocks in view (content-visibility), which keeps the page
 * quick. Cut to TEXT_LIMIT, a value is quick to lay out whole, and drawn as any text is (in print and
 * in full-page captures too).
 */
function JsonBlock({ block, lazy, open }: { block: Block; lazy: boolean; open(path: (string | number)[]): void }) {
  return (
    <span className={lazy ? 'json-block lazy' : 'json-block'} style={lazy ? { containIntrinsicBlockSize: `auto ${block.lines}lh` } : undefined}>
      {block.pieces.map((piece, index) => (typeof piece === 'string' ? piece : <CollapsedButton key={index} piece={piece} open={open} />))}
    </span>
  );
}

/** Says how much of the value is shown, with the button that shows all of it or goes back to the start. */
function LengthNote({ shown, total, whole, drawing, toggle }: { shown: number; total: number; whole: boolean; drawing: boolean; toggle(): void }) {
  return (
    <p className="json-note" role="status">
      {whole ? `All ${formatCount(total)} characters shown.` : `The first ${formatCount(shown)} of ${formatCount(total)} characters shown.`}{' '}
      <button type="button" onClick={toggle} disabled={drawing}>
        {drawing ? 'Drawing…' : whole ? 'Show less' : 'Show all'}
      </button>
    </p>
  );
}

/**
 * A JSON value, indented, scrollable when long, within the limits of layoutJson: long values are cut
 * with a "Show all", deep ones collapsed with a button per container. What the reader opened, and
 * whether all is shown, stay as they are while the value is read again (a moving job's page reads it
 * every second).
 */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  const [opened, setOpened] = useState<Openings>(NO_OPENINGS);
  const [whole, setWhole] = useState(false);
  // Drawing all of a large value is the one slow step: as a transition, the page still answers meanwhile.
  const [drawing, startDrawing] = useTransition();
  const layout = useMemo(() => layoutJson(value, { maxDepth: DEPTH_LIMIT, maxChars: whole ? Infinity : TEXT_LIMIT, opened }), [value, whole, opened]);
  const open = (path: (string | number)[]) => setOpened((current) => withOpened(current, path));

  return (
    <>
      <pre className="json" aria-label={label} tabIndex={0}>
        {layout.blocks.map((block, index) => (
          <JsonBlock key={index} block={block} lazy={whole} open={open} />
        ))}
        {layout.truncated && '…'}
      </pre>
      {layout.totalChars > TEXT_LIMIT && (
        <LengthNote shown={layout.shownChars} total={layout.totalChars} whole={whole} drawing={drawing} toggle={() => startDrawing(() => setWhole(!whole))} />
      )}
    </>
  );
}

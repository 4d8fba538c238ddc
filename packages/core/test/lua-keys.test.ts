/**
 * Every key a Lua script touches must reach it in KEYS: Redis requires it ("all names of keys that a
 * script accesses must be explicitly provided as input key arguments"), and a Redis Cluster routes a
 * script by its KEYS alone, so a key the script builds itself may live in another slot. This file
 * checks the scripts' sources for it; lua-keys-runtime.test.ts watches them run.
 *
 * Each script is analysed as Redis receives it, composed by scripts.ts (defineScripts, on a stand-in
 * that only collects the sources), rather than each Lua file alone: a shared function's parameters
 * are then bound at exactly the call sites of the scripts that include it, and the composition is
 * never re-implemented here. Findings are reported at their Lua file and line.
 *
 * The analyser tokenizes (comments dropped, each string one token), then parses just enough Lua to
 * resolve every name to its declaration and record what gets bound to it. Which arguments of a
 * redis.call/pcall are keys, Redis says: COMMAND GETKEYS on the call, its non-literal arguments
 * replaced by placeholders. A key argument is allowed when it is KEYS[…], or a name every binding of
 * which is allowed: a local or an assignment from an allowed expression; a function parameter whose
 * argument is allowed at every call site; a table field or element whose value is allowed in the
 * table's constructor and in every assignment into the table (also through another name for the same
 * table, such as a parameter it was passed as); a value returned by a local function when every
 * return statement returns an allowed value there; a key from `pairs(t)` when every key put into t is
 * allowed. Anything else is a violation: a concatenation, ARGV[…], a reply from Redis, a string
 * literal, the return value of any other function.
 */
import { Redis } from 'ioredis';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineScripts } from '../src/redis/scripts';

// ---------------------------------------------------------------------------------------------
// Tokens

interface Token {
  kind: 'name' | 'keyword' | 'number' | 'string' | 'symbol' | 'end of source';
  text: string;
  /** A string's value, escapes resolved. */
  value: string;
  start: number;
  end: number;
}

const KEYWORDS = new Set([
  'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'if', 'in', 'local', 'nil', 'not', 'or', 'repeat', 'return', 'then',
  'true', 'until', 'while',
]);

const LEXEME = new RegExp(
  [
    /(?<space>\s+)/,
    /(?<comment>--\[(?<commentLevel>=*)\[[\s\S]*?\]\k<commentLevel>\]|--[^\n]*)/,
    /(?<longString>\[(?<stringLevel>=*)\[[\s\S]*?\]\k<stringLevel>\])/,
    /(?<string>'(?:\\[\s\S]|[^'\\\n])*'|"(?:\\[\s\S]|[^"\\\n])*")/,
    /(?<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/,
    /(?<name>[A-Za-z_][A-Za-z0-9_]*)/,
    /(?<symbol>\.\.\.|\.\.|==|~=|<=|>=|[-+*/%^#<>=(){}[\];:,.])/,
  ].map((part) => part.source).join('|'),
  'y',
);

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v' };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  LEXEME.lastIndex = 0;
  while (LEXEME.lastIndex < source.length) {
    const start = LEXEME.lastIndex;
    const match = LEXEME.exec(source);
    if (!match?.groups) throw new Error(`cannot read Lua at offset ${start}: ${source.slice(start, start + 20)}`);
    const { groups } = match;
    const text = match[0];
    const token = (kind: Token['kind'], value = text): Token => ({ kind, text, value, start, end: LEXEME.lastIndex });
    if (groups.space !== undefined || groups.comment !== undefined) continue;
    if (groups.longString !== undefined) {
      const level = groups.stringLevel?.length ?? 0;
      tokens.push(token('string', text.slice(level + 2, -level - 2).replace(/^\r?\n/, '')));
    } else if (groups.string !== undefined) {
      tokens.push(token('string', text.slice(1, -1).replace(/\\(.)/gs, (_, char: string) => ESCAPES[char] ?? char)));
    } else if (groups.number !== undefined) {
      tokens.push(token('number'));
    } else if (groups.name !== undefined) {
      tokens.push(token(KEYWORDS.has(text) ? 'keyword' : 'name'));
    } else {
      tokens.push(token('symbol'));
    }
  }
  tokens.push({ kind: 'end of source', text: '<end>', value: '', start: source.length, end: source.length });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// What the parser records

/** A step into a table: a constant key, any key (a computed one, or an unknown element), or the table's keys themselves (pairs). */
type Access = { kind: 'const'; value: string | number } | { kind: 'any'; key?: Expr } | { kind: 'keys' };

interface Span {
  start: number;
  end: number;
}

type Expr = Span & (
  | { kind: 'name'; name: string; symbol: LuaSymbol | undefined }
  | { kind: 'index'; object: Expr; key: Expr }
  | { kind: 'call'; callee: Expr; args: Expr[] }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'constant' }
  | { kind: 'nil' }
  | { kind: 'vararg' }
  | { kind: 'operator'; operator: string; operands: Expr[] }
  | { kind: 'table'; items: TableItem[] }
  | { kind: 'function' }
  | { kind: 'paren'; inner: Expr }
);

type CallExpr = Expr & { kind: 'call' };

interface TableItem {
  key: Access;
  value: Expr;
  /** A positional last item that is a call or `...`: it also fills the positions after its own. */
  expands: boolean;
}

/** Which value of a multi-valued expression (a call, `...`) a binding takes; 'any' for a spread of all of them. */
type ValueIndex = number | 'any';

/** A value bound to a name, or assigned into a table: `through` steps into it (an ipairs element, a pairs key). */
interface Binding {
  expr: Expr;
  index: ValueIndex;
  through: Access[];
}

interface LuaSymbol {
  name: string;
  declaredAt: number;
  bindings: Binding[];
  /** Assignments into the table the name holds, at `path` below it. */
  members: (Binding & { path: Access[] })[];
  fn?: LuaFunction;
  param?: { fn: LuaFunction; position: number };
  /** Why any value of it is not allowed (a loop counter, an iterator's value). */
  opaque?: string;
}

interface LuaFunction {
  name: string;
  returns: Expr[][];
  callSites: Expr[][];
  /** Used as a value, not only called: its parameters may be bound anywhere. */
  escapes: boolean;
}

/** A use of Redis that cannot be checked, found while parsing. */
interface Misuse {
  at: number;
  what: string;
}

const UNARY_PRIORITY = 8;
const BINARY_PRIORITY = new Map<string, [left: number, right: number]>([
  ['or', [1, 1]], ['and', [2, 2]],
  ['<', [3, 3]], ['>', [3, 3]], ['<=', [3, 3]], ['>=', [3, 3]], ['~=', [3, 3]], ['==', [3, 3]],
  ['..', [5, 4]], ['+', [6, 6]], ['-', [6, 6]], ['*', [7, 7]], ['/', [7, 7]], ['%', [7, 7]], ['^', [10, 9]],
]);
const BLOCK_ENDS = new Set(['end', 'else', 'elseif', 'until', '<end>']);

function newFunction(name: string): LuaFunction {
  return { name, returns: [], callSites: [], escapes: false };
}

function isMultiValued(expr: Expr): boolean {
  return expr.kind === 'call' || expr.kind === 'vararg';
}

/** The `i`th (0-based) value of an expression list, as Lua spreads its last call or `...`; undefined for nil. */
function valueAt(values: readonly Expr[], i: number): { expr: Expr; index: ValueIndex } | undefined {
  const last = values.length - 1;
  if (i < last) return { expr: values[i] as Expr, index: 0 };
  const lastValue = values[last];
  if (!lastValue) return undefined;
  if (i === last) return { expr: lastValue, index: 0 };
  return isMultiValued(lastValue) ? { expr: lastValue, index: i - last } : undefined;
}

/**
 * Parses Lua 5.1 (Redis's) for what the key analysis needs: it resolves each name to its
 * declaration as it goes and records bindings, table assignments, returns and calls; it keeps no
 * statement tree.
 */
class LuaParser {
  private position = 0;
  private readonly scopes: Map<string, LuaSymbol>[] = [new Map()];
  private readonly enclosing: LuaFunction[] = [newFunction('the script')];
  readonly symbols: LuaSymbol[] = [];
  readonly calls: CallExpr[] = [];
  readonly misuses: Misuse[] = [];

  constructor(private readonly tokens: Token[]) {}

  parse(): this {
    this.block();
    this.expect('<end>');
    return this;
  }

  private get token(): Token {
    return this.tokens[this.position] as Token;
  }

  private peek(ahead: number): Token | undefined {
    return this.tokens[this.position + ahead];
  }

  private next(): Token {
    const token = this.token;
    this.position += 1;
    return token;
  }

  private accept(text: string): boolean {
    if (this.token.text !== text) return false;
    this.position += 1;
    return true;
  }

  private expect(text: string): Token {
    if (this.token.text !== text) throw new Error(`expected '${text}' at offset ${this.token.start}, found '${this.token.text}'`);
    return this.next();
  }

  private name(): Token {
    if (this.token.kind !== 'name') throw new Error(`expected a name at offset ${this.token.start}, found '${this.token.text}'`);
    return this.next();
  }

  private declare(name: string, at: number): LuaSymbol {
    const symbol: LuaSymbol = { name, declaredAt: at, bindings: [], members: [] };
    this.scopes[this.scopes.length - 1]?.set(name, symbol);
    this.symbols.push(symbol);
    return symbol;
  }

  private resolve(name: string): LuaSymbol | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i -= 1) {
      const symbol = this.scopes[i]?.get(name);
      if (symbol) return symbol;
    }
    return undefined;
  }

  private scoped(body: () => void): void {
    this.scopes.push(new Map());
    body();
    this.scopes.pop();
  }

  private block(): void {
    while (!BLOCK_ENDS.has(this.token.text)) {
      if (this.accept('return')) {
        const values = BLOCK_ENDS.has(this.token.text) || this.token.text === ';' ? [] : this.expressionList();
        this.enclosing[this.enclosing.length - 1]?.returns.push(values);
        this.accept(';');
        return;
      }
      this.statement();
    }
  }

  private statement(): void {
    const start = this.token;
    if (this.accept(';') || this.accept('break')) return;
    if (this.accept('local')) {
      if (this.accept('function')) {
        const name = this.name();
        // Declared before its body, which may call it.
        const fn = newFunction(name.text);
        this.declare(name.text, name.start).fn = fn;
        this.functionBody(fn);
        return;
      }
      const names = [this.name()];
      while (this.accept(',')) names.push(this.name());
      const values = this.accept('=') ? this.expressionList() : [];
      names.forEach((name, i) => {
        const symbol = this.declare(name.text, name.start);
        const value = valueAt(values, i);
        if (value) symbol.bindings.push({ ...value, through: [] });
      });
      return;
    }
    if (this.accept('function')) {
      // Redis refuses to define globals, so such a function is no shared step: its callers are not followed.
      const names = [this.name().text];
      while (this.accept('.') || this.accept(':')) names.push(this.name().text);
      this.functionBody({ ...newFunction(names.join('.')), escapes: true });
      return;
    }
    if (this.accept('if')) {
      do {
        this.expression();
        this.expect('then');
        this.scoped(() => this.block());
      } while (this.accept('elseif'));
      if (this.accept('else')) this.scoped(() => this.block());
      this.expect('end');
      return;
    }
    if (this.accept('while')) {
      this.expression();
      this.expect('do');
      this.scoped(() => this.block());
      this.expect('end');
      return;
    }
    if (this.accept('do')) {
      this.scoped(() => this.block());
      this.expect('end');
      return;
    }
    if (this.accept('repeat')) {
      // The condition sees the loop body's locals.
      this.scoped(() => {
        this.block();
        this.expect('until');
        this.expression();
      });
      return;
    }
    if (this.accept('for')) {
      this.forLoop();
      return;
    }
    const target = this.suffixedExpression();
    if (this.token.text === '=' || this.token.text === ',') {
      const targets = [target];
      while (this.accept(',')) targets.push(this.suffixedExpression());
      this.expect('=');
      this.assign(targets, this.expressionList());
      return;
    }
    if (target.kind !== 'call') throw new Error(`expected a statement at offset ${start.start}, found '${start.text}'`);
  }

  private forLoop(): void {
    const first = this.name();
    if (this.accept('=')) {
      this.expressionList();
      this.expect('do');
      this.scoped(() => {
        this.declare(first.text, first.start).opaque = 'a loop counter';
        this.block();
      });
      this.expect('end');
      return;
    }
    const names = [first];
    while (this.accept(',')) names.push(this.name());
    this.expect('in');
    const [iterator] = this.expressionList();
    this.expect('do');
    const over = iterator?.kind === 'call' && iterator.callee.kind === 'name' && !iterator.callee.symbol ? iterator.callee.name : undefined;
    const table = iterator?.kind === 'call' ? iterator.args[0] : undefined;
    this.scoped(() => {
      const [key, value, ...others] = names.map((name) => this.declare(name.text, name.start));
      if (table && over === 'ipairs') {
        if (key) key.opaque = 'an index from ipairs';
        value?.bindings.push({ expr: table, index: 0, through: [{ kind: 'any' }] });
      } else if (table && over === 'pairs') {
        key?.bindings.push({ expr: table, index: 0, through: [{ kind: 'keys' }] });
        value?.bindings.push({ expr: table, index: 0, through: [{ kind: 'any' }] });
      } else {
        for (const symbol of [key, value]) if (symbol) symbol.opaque = 'a value from an iterator other than ipairs and pairs';
      }
      for (const symbol of others) symbol.opaque = 'a value from an iterator other than ipairs and pairs';
      this.block();
    });
    this.expect('end');
  }

  private assign(targets: readonly Expr[], values: readonly Expr[]): void {
    targets.forEach((target, i) => {
      const value = valueAt(values, i) ?? { expr: { kind: 'nil', start: target.start, end: target.end } satisfies Expr, index: 0 };
      const path: Access[] = [];
      let root = target;
      while (root.kind === 'index') {
        path.unshift(accessOf(root.key));
        root = root.object;
      }
      if (root.kind !== 'name') return;
      if (!root.symbol) {
        if (root.name === 'KEYS') this.misuses.push({ at: target.start, what: 'KEYS is written to, so KEYS[…] may no longer be a declared key' });
        return;
      }
      if (path.length === 0) root.symbol.bindings.push({ ...value, through: [] });
      else root.symbol.members.push({ ...value, through: [], path });
    });
  }

  private functionBody(fn: LuaFunction): void {
    this.expect('(');
    this.scoped(() => {
      const params: Token[] = [];
      if (this.token.text !== ')') {
        do {
          if (this.accept('...')) break;
          params.push(this.name());
        } while (this.accept(','));
      }
      this.expect(')');
      params.forEach((param, i) => {
        this.declare(param.text, param.start).param = { fn, position: i };
      });
      this.enclosing.push(fn);
      this.block();
      this.enclosing.pop();
    });
    this.expect('end');
  }

  private expressionList(): Expr[] {
    const list = [this.expression()];
    while (this.accept(',')) list.push(this.expression());
    return list;
  }

  private expression(limit = 0): Expr {
    let left: Expr;
    const start = this.token;
    if (start.text === 'not' || start.text === '-' || start.text === '#') {
      this.next();
      const operand = this.expression(UNARY_PRIORITY);
      left = { kind: 'operator', operator: start.text, operands: [operand], start: start.start, end: operand.end };
    } else {
      left = this.simpleExpression();
    }
    for (;;) {
      const priority = this.token.kind === 'string' ? undefined : BINARY_PRIORITY.get(this.token.text);
      if (!priority || priority[0] <= limit) return left;
      const operator = this.next().text;
      const right = this.expression(priority[1]);
      left = { kind: 'operator', operator, operands: [left, right], start: left.start, end: right.end };
    }
  }

  private simpleExpression(): Expr {
    const token = this.token;
    const span = { start: token.start, end: token.end };
    if (token.kind === 'symbol' && token.text === '{') return this.table();
    if (token.kind === 'keyword' && token.text === 'function') {
      this.next();
      // A function made as a value may be called from anywhere: its parameters are not followed.
      this.functionBody({ ...newFunction('an anonymous function'), escapes: true });
      return { kind: 'function', start: token.start, end: this.tokens[this.position - 1]?.end ?? token.end };
    }
    let simple: Expr;
    if (token.kind === 'number') simple = { kind: 'number', value: Number(token.text), ...span };
    else if (token.kind === 'string') simple = { kind: 'string', value: token.value, ...span };
    else if (token.text === 'true' || token.text === 'false') simple = { kind: 'constant', ...span };
    else if (token.text === 'nil') simple = { kind: 'nil', ...span };
    else if (token.text === '...') simple = { kind: 'vararg', ...span };
    else return this.suffixedExpression();
    this.next();
    return simple;
  }

  private nameExpression(token: Token): Expr {
    return { kind: 'name', name: token.text, symbol: this.resolve(token.text), start: token.start, end: token.end };
  }

  private suffixedExpression(): Expr {
    let primary: Expr;
    if (this.token.kind === 'name') {
      primary = this.nameExpression(this.next());
    } else {
      const open = this.expect('(');
      const inner = this.expression();
      primary = { kind: 'paren', inner, start: open.start, end: this.expect(')').end };
    }
    let expr = primary;
    const suffixes: string[] = [];
    for (;;) {
      const token = this.token;
      const { text } = token;
      if (text === '.') {
        this.next();
        const field = this.name();
        suffixes.push(`.${field.text}`);
        expr = { kind: 'index', object: expr, key: { kind: 'string', value: field.text, start: field.start, end: field.end }, start: expr.start, end: field.end };
      } else if (text === '[') {
        this.next();
        const key = this.expression();
        suffixes.push('[]');
        expr = { kind: 'index', object: expr, key, start: expr.start, end: this.expect(']').end };
      } else if (text === ':') {
        this.next();
        const method = this.name();
        suffixes.push(`:${method.text}`);
        const callee: Expr = { kind: 'index', object: expr, key: { kind: 'string', value: method.text, start: method.start, end: method.end }, start: expr.start, end: method.end };
        expr = this.call(callee, [expr]);
      } else if (token.kind === 'string' || text === '(' || text === '{') {
        suffixes.push('()');
        expr = this.call(expr, []);
      } else {
        break;
      }
    }
    if (primary.kind === 'name' && primary.symbol?.fn && suffixes[0] !== '()') primary.symbol.fn.escapes = true;
    if (primary.kind === 'name' && primary.name === 'redis' && !primary.symbol) {
      if (suffixes.length === 0) this.misuses.push({ at: primary.start, what: '`redis` is used as a value, so the calls made through it cannot be checked' });
      else if ((suffixes[0] === '.call' || suffixes[0] === '.pcall') && suffixes[1] !== '()') {
        this.misuses.push({ at: primary.start, what: `redis${suffixes[0]} is used as a value, so the calls made through it cannot be checked` });
      }
    }
    return expr;
  }

  private call(callee: Expr, leading: Expr[]): CallExpr {
    const args = [...leading];
    let end: number;
    if (this.token.kind === 'string') {
      const token = this.next();
      args.push({ kind: 'string', value: token.value, start: token.start, end: token.end });
      end = token.end;
    } else if (this.token.text === '{') {
      const table = this.table();
      args.push(table);
      end = table.end;
    } else {
      this.expect('(');
      if (this.token.text !== ')') args.push(...this.expressionList());
      end = this.expect(')').end;
    }
    const call: CallExpr = { kind: 'call', callee, args, start: callee.start, end };
    if (callee.kind === 'name' && callee.symbol?.fn) callee.symbol.fn.callSites.push(args);
    this.calls.push(call);
    return call;
  }

  private table(): Expr {
    const open = this.expect('{');
    const items: TableItem[] = [];
    let position = 0;
    while (this.token.text !== '}') {
      if (this.accept('[')) {
        const key = this.expression();
        this.expect(']');
        this.expect('=');
        items.push({ key: accessOf(key), value: this.expression(), expands: false });
      } else if (this.token.kind === 'name' && this.peek(1)?.text === '=') {
        const field = this.next().text;
        this.next();
        items.push({ key: { kind: 'const', value: field }, value: this.expression(), expands: false });
      } else {
        position += 1;
        items.push({ key: { kind: 'const', value: position }, value: this.expression(), expands: false });
      }
      if (!this.accept(',') && !this.accept(';')) break;
    }
    const last = items[items.length - 1];
    if (last && last.key.kind === 'const' && last.key.value === position && isMultiValued(last.value)) last.expands = true;
    return { kind: 'table', items, start: open.start, end: this.expect('}').end };
  }
}

function accessOf(key: Expr): Access {
  if (key.kind === 'string' || key.kind === 'number') return { kind: 'const', value: key.value };
  return { kind: 'any', key };
}

// ---------------------------------------------------------------------------------------------
// Following bindings back

/** An expression that makes a key not allowed, and why. */
interface Cause extends Span {
  reason: string;
}

function matches(a: Access, b: Access): boolean {
  if (a.kind === 'keys' || b.kind === 'keys') return false;
  return a.kind === 'any' || b.kind === 'any' || a.value === b.value;
}

function pathKey(path: readonly Access[]): string {
  return path.map((access) => (access.kind === 'const' ? JSON.stringify(access.value) : access.kind)).join('/');
}

function isGlobal(expr: Expr, name: string): boolean {
  return expr.kind === 'name' && expr.name === name && !expr.symbol;
}

/** Answers, for an expression of one parsed script, what makes its value not allowed as a key. */
class KeyFlow {
  /** For each name, the other names bound to it as a whole, which therefore hold the same table (a parameter it is passed as, a copy). */
  private readonly sharers = new Map<LuaSymbol, LuaSymbol[]>();
  /** Names and functions being followed, with the path asked of them: a cycle adds nothing that is not followed elsewhere. */
  private readonly visiting = new Set<string>();
  private readonly ids = new Map<object, number>();

  constructor(symbols: readonly LuaSymbol[]) {
    for (const symbol of symbols) {
      for (const { expr, index, through } of this.wholeBindings(symbol)) {
        if (expr.kind === 'name' && expr.symbol && index === 0 && through.length === 0) {
          this.sharers.set(expr.symbol, [...(this.sharers.get(expr.symbol) ?? []), symbol]);
        }
      }
    }
  }

  causes(expr: Expr, index: ValueIndex, path: readonly Access[]): Cause[] {
    const cause = (reason: string): Cause[] => [{ start: expr.start, end: expr.end, reason }];
    // Only a call or `...` has values after its first.
    if (typeof index === 'number' && index > 0 && !isMultiValued(expr)) return [];
    switch (expr.kind) {
      case 'name':
        if (expr.symbol) return this.symbolCauses(expr.symbol, path);
        if (expr.name === 'KEYS') {
          if (path.length === 0) return cause('the KEYS table itself');
          return path[0]?.kind === 'keys' ? cause('an index of KEYS, not a key') : [];
        }
        return cause(expr.name === 'ARGV' ? 'an argument (ARGV), not a declared key' : `the global ${expr.name}`);
      case 'index':
        if (isGlobal(expr.object, 'ARGV')) return cause('an argument (ARGV), not a declared key');
        return this.causes(expr.object, 0, [accessOf(expr.key), ...path]);
      case 'paren':
        return this.causes(expr.inner, 0, path);
      case 'call':
        return this.callCauses(expr, index, path, cause);
      case 'table':
        return this.tableCauses(expr, path, cause);
      case 'operator':
        if (expr.operator === 'or') return expr.operands.flatMap((operand) => this.causes(operand, 0, path));
        // `a and b` is b, or a when a is false or nil, which names no key.
        if (expr.operator === 'and') return this.causes(expr.operands[1] as Expr, 0, path);
        return cause(expr.operator === '..' ? 'a string concatenation' : 'a computed value');
      case 'string':
        return cause('a string literal');
      case 'nil':
        return [];
      case 'number':
      case 'constant':
        return cause('a constant');
      case 'vararg':
        return cause('a vararg');
      case 'function':
        return cause('a function');
    }
  }

  private callCauses(call: CallExpr, index: ValueIndex, path: readonly Access[], cause: (reason: string) => Cause[]): Cause[] {
    const { callee } = call;
    const fn = callee.kind === 'name' ? callee.symbol?.fn : undefined;
    if (fn) {
      return this.once(fn, `${index}:${pathKey(path)}`, () => fn.returns.flatMap((values) => {
        const positions = index === 'any' ? values.map((_, i) => i) : [index];
        return positions.flatMap((i) => {
          const value = valueAt(values, i);
          return value ? this.causes(value.expr, value.index, path) : [];
        });
      }));
    }
    const [table] = call.args;
    if (isGlobal(callee, 'unpack') && table) return this.causes(table, 0, [{ kind: 'any' }, ...path]);
    if (callee.kind === 'index' && isGlobal(callee.object, 'redis')) return cause('a value read from Redis');
    return cause('the return value of a function that is not a local one');
  }

  private tableCauses(table: Expr & { kind: 'table' }, path: readonly Access[], cause: (reason: string) => Cause[]): Cause[] {
    const [step, ...rest] = path;
    if (!step) return cause('a table');
    if (step.kind === 'keys') return table.items.flatMap((item) => this.keyCauses(item.key, item.value));
    return table.items.flatMap((item) => {
      const position = item.key.kind === 'const' ? item.key.value : undefined;
      if (item.expands && step.kind === 'const' && typeof step.value === 'number' && typeof position === 'number' && step.value >= position) {
        return this.causes(item.value, step.value - position, rest);
      }
      if (item.expands && step.kind === 'any') return this.causes(item.value, 'any', rest);
      return matches(item.key, step) ? this.causes(item.value, 0, rest) : [];
    });
  }

  /** Why a key put into a table (by its constructor or an assignment) may not be a Redis key. */
  private keyCauses(key: Access, value: Expr): Cause[] {
    if (key.kind === 'any' && key.key) return this.causes(key.key, 0, []);
    return [{ start: value.start, end: value.end, reason: 'an entry under a constant or positional key, which names no Redis key' }];
  }

  private symbolCauses(symbol: LuaSymbol, path: readonly Access[]): Cause[] {
    return this.once(symbol, pathKey(path), () => {
      const here = (reason: string): Cause[] => [{ start: symbol.declaredAt, end: symbol.declaredAt + symbol.name.length, reason }];
      if (symbol.opaque) return here(symbol.opaque);
      if (symbol.param?.fn.escapes) return here(`a parameter of ${symbol.param.fn.name}, which is used as a value, so its callers are unknown`);
      const causes = this.wholeBindings(symbol).flatMap((binding) => this.causes(binding.expr, binding.index, [...binding.through, ...path]));
      const [step] = path;
      if (!step) return causes;
      for (const member of this.membersOf(symbol)) {
        const [first] = member.path;
        if (step.kind === 'keys') {
          if (first && member.path.length === 1) causes.push(...this.keyCauses(first, member.expr));
        } else if (member.path.length <= path.length && member.path.every((access, i) => matches(access, path[i] as Access))) {
          causes.push(...this.causes(member.expr, member.index, path.slice(member.path.length)));
        }
      }
      return causes;
    });
  }

  /** What is bound to a name as a whole: its declaration and assignments, and for a parameter, its argument at every call site. */
  private wholeBindings(symbol: LuaSymbol): Binding[] {
    const { param } = symbol;
    if (!param) return symbol.bindings;
    const passed = param.fn.callSites.flatMap((args): Binding[] => {
      const value = valueAt(args, param.position);
      return value ? [{ ...value, through: [] }] : [];
    });
    return [...symbol.bindings, ...passed];
  }

  /** Assignments into the table a name holds, made through that name or through any other name bound to it. */
  private membersOf(symbol: LuaSymbol): LuaSymbol['members'] {
    const names = new Set([symbol]);
    for (const name of names) for (const sharer of this.sharers.get(name) ?? []) names.add(sharer);
    return [...names].flatMap((name) => name.members);
  }

  private once(subject: object, question: string, follow: () => Cause[]): Cause[] {
    let id = this.ids.get(subject);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(subject, id);
    }
    const visit = `${id}:${question}`;
    if (this.visiting.has(visit)) return [];
    this.visiting.add(visit);
    try {
      return follow();
    } finally {
      this.visiting.delete(visit);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Which arguments are keys: Redis says

/** What COMMAND GETKEYS answered for a call: the key arguments, or why it could not tell. */
type KeysAnswer = { keys: string[] } | { error: string };

/** Asks Redis which arguments of each command are keys, once per distinct call. */
class KeyPositions {
  private readonly answers = new Map<string, Promise<KeysAnswer>>();

  constructor(private readonly redis: Redis) {}

  keysOf(command: string, args: readonly string[]): Promise<KeysAnswer> {
    const id = JSON.stringify([command, ...args]);
    let answer = this.answers.get(id);
    if (!answer) {
      answer = this.ask(command, args);
      this.answers.set(id, answer);
    }
    return answer;
  }

  private async ask(command: string, args: readonly string[]): Promise<KeysAnswer> {
    // GETKEYS needs an argument to look at; a command called with none (TIME) names no key.
    if (args.length === 0) return (await this.redis.call('COMMAND', 'INFO', command) as unknown[])[0] ? { keys: [] } : { error: 'Redis does not know this command' };
    try {
      return { keys: (await this.redis.call('COMMAND', 'GETKEYS', command, ...args)) as string[] };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message.includes('has no key arguments')) return { keys: [] };
      if (message.includes('Invalid command')) return { error: 'Redis does not know this command' };
      return { error: `Redis cannot tell which arguments are keys (${message})` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The check

/** Where a stretch of a composed script comes from. */
interface Segment {
  file: string;
  /** Offset of the file's text in the script. */
  offset: number;
  text: string;
}

interface LuaScript {
  name: string;
  source: string;
  segments: Segment[];
}

interface Place {
  file: string;
  line: number;
}

interface Violation {
  place: Place;
  /** The command and its key argument, or a use of Redis that cannot be checked. */
  what: string;
  causes: { text: string; place: Place; reason: string }[];
  scripts: string[];
}

function placeIn(script: LuaScript, offset: number): Place {
  const segment = script.segments.find(({ offset: start, text }) => offset >= start && offset < start + text.length);
  if (!segment) return { file: `${script.name} (composed by scripts.ts)`, line: script.source.slice(0, offset).split('\n').length };
  return { file: segment.file, line: segment.text.slice(0, offset - segment.offset).split('\n').length };
}

function textOf(source: string, span: Span): string {
  return source.slice(span.start, span.end).replace(/\s+/g, ' ');
}

/** A placeholder for a non-literal argument in a GETKEYS probe; no literal resembles it. */
const placeholder = (i: number): string => `\u0001argument ${i}`;

function isRedisCall(call: CallExpr): boolean {
  const { callee } = call;
  return callee.kind === 'index' && isGlobal(callee.object, 'redis') && callee.key.kind === 'string' && (callee.key.value === 'call' || callee.key.value === 'pcall');
}

async function violationsOf(script: LuaScript, positions: KeyPositions): Promise<Violation[]> {
  const parser = new LuaParser(tokenize(script.source)).parse();
  const flow = new KeyFlow(parser.symbols);
  const violations: Violation[] = parser.misuses.map(({ at, what }) => ({ place: placeIn(script, at), what, causes: [], scripts: [script.name] }));
  const report = (call: CallExpr, what: string, causes: Cause[]): void => {
    violations.push({
      place: placeIn(script, call.start),
      what,
      causes: causes.map((cause) => ({ text: textOf(script.source, cause), place: placeIn(script, cause.start), reason: cause.reason })),
      scripts: [script.name],
    });
  };

  for (const call of parser.calls.filter(isRedisCall)) {
    const [name, ...args] = call.args;
    if (name?.kind !== 'string') {
      report(call, `\`${textOf(script.source, call)}\`: the command is not a string literal, so its keys cannot be found`, []);
      continue;
    }
    const command = name.value.toUpperCase();
    const probe = args.map((arg, i) => (arg.kind === 'string' ? arg.value : placeholder(i)));
    const answer = await positions.keysOf(command, probe);
    if ('error' in answer) {
      report(call, `${command}: ${answer.error}`, []);
      continue;
    }
    const taken = new Set<number>();
    for (const key of answer.keys) {
      const i = probe.findIndex((value, at) => value === key && !taken.has(at));
      taken.add(i);
      const arg = args[i];
      if (!arg) continue;
      // A call or `...` last spreads all its values; Redis saw one placeholder for them.
      const spread = i === args.length - 1 && isMultiValued(arg);
      const causes = flow.causes(arg, spread ? 'any' : 0, []);
      if (causes.length > 0) report(call, `${command} key \`${textOf(script.source, arg)}\``, causes);
    }
  }
  return violations;
}

/** Merges the same violation found in several scripts (a shared function's), keeping each script's name. */
function merged(violations: readonly Violation[]): Violation[] {
  const byPlace = new Map<string, Violation>();
  for (const violation of violations) {
    const id = `${violation.place.file}:${violation.place.line} ${violation.what}`;
    const known = byPlace.get(id);
    if (!known) {
      byPlace.set(id, { ...violation, causes: [...violation.causes], scripts: [...violation.scripts] });
      continue;
    }
    known.scripts.push(...violation.scripts.filter((name) => !known.scripts.includes(name)));
    for (const cause of violation.causes) {
      if (!known.causes.some((seen) => seen.text === cause.text && seen.place.file === cause.place.file && seen.place.line === cause.place.line)) known.causes.push(cause);
    }
  }
  return [...byPlace.values()];
}

function describeViolation({ place, what, causes, scripts }: Violation): string {
  const because = [...new Set(causes.map((cause) => `\`${cause.text}\` (${cause.place.file}:${cause.place.line}): ${cause.reason}`))];
  return `${place.file}:${place.line} ${what}${because.length > 0 ? ` ← ${because.join('; ')}` : ''} [in ${scripts.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------
// The scripts, as scripts.ts composes them

const LUA_DIR = new URL('../src/redis/lua/', import.meta.url);

function composedScripts(): LuaScript[] {
  const files = readdirSync(LUA_DIR).filter((file) => file.endsWith('.lua')).map((file) => ({ file, text: readFileSync(new URL(file, LUA_DIR), 'utf8') }));
  const sources = new Map<string, string>();
  defineScripts({ defineCommand: (name: string, { lua }: { lua: string }) => sources.set(name, lua) } as unknown as Parameters<typeof defineScripts>[0]);
  return [...sources].map(([name, source]) => ({
    name,
    source,
    segments: files.flatMap(({ file, text }) => {
      const offset = source.indexOf(text);
      return offset < 0 ? [] : [{ file, offset, text }];
    }),
  }));
}

/** A snippet as a script of its own. */
function snippet(source: string): LuaScript {
  return { name: 'snippet', source, segments: [{ file: 'snippet.lua', offset: 0, text: source }] };
}

let redis: Redis;
let positions: KeyPositions;

beforeAll(() => {
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  positions = new KeyPositions(redis);
});

afterAll(() => {
  redis?.disconnect();
});

async function check(script: LuaScript): Promise<string[]> {
  return merged(await violationsOf(script, positions)).map(describeViolation);
}

describe('the Lua scripts declare every key they touch in KEYS', () => {
  it('finds every script of scripts.ts and the Lua files they are made of', () => {
    const scripts = composedScripts();
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) expect(script.segments, `${script.name}'s Lua files`).not.toEqual([]);
  });

  it('touches no key that is not KEYS[…], or a name bound only to KEYS[…]', async () => {
    const found: Violation[] = [];
    for (const script of composedScripts()) found.push(...(await violationsOf(script, positions)));
    const report = merged(found).map(describeViolation).sort();
    if (report.length > 0) console.log(`Keys the scripts touch without KEYS (${report.length}):\n${report.join('\n')}`);
    expect(report, 'keys touched without KEYS').toEqual([]);
  });
});

describe('the key analysis', () => {
  it('flags a key built from ARGV', async () => {
    expect(await check(snippet("redis.call('HSET', ARGV[1] .. id, 'a', 1)"))).toEqual([
      "snippet.lua:1 HSET key `ARGV[1] .. id` ← `ARGV[1] .. id` (snippet.lua:1): a string concatenation [in snippet]",
    ]);
  });

  it('flags a key held in a local built by concatenation, at the call and where it was built', async () => {
    const found = await check(snippet("local key = KEYS[1] .. ':counts'\nif true then redis.call('HINCRBY', key, 'done', 1) end"));
    expect(found).toEqual(["snippet.lua:2 HINCRBY key `key` ← `KEYS[1] .. ':counts'` (snippet.lua:1): a string concatenation [in snippet]"]);
  });

  it('flags a parameter when one caller passes a concatenation, though another passes KEYS', async () => {
    const found = await check(snippet([
      'local function touch(jobKey)',
      "  redis.call('DEL', jobKey)",
      'end',
      'touch(KEYS[1])',
      "touch(KEYS[2] .. ARGV[1])",
    ].join('\n')));
    expect(found).toEqual(['snippet.lua:2 DEL key `jobKey` ← `KEYS[2] .. ARGV[1]` (snippet.lua:5): a string concatenation [in snippet]']);
  });

  it('flags a reply from Redis, a string literal and a key table filled from ARGV, each where it is used as a key', async () => {
    const found = await check(snippet([
      "local ids = redis.call('ZRANGE', KEYS[1], 0, -1)",
      "for _, id in ipairs(ids) do redis.call('HGET', id, 'status') end",
      "redis.call('GET', 'config')",
      'local jobKeys = {}',
      'for i = 1, #ARGV do jobKeys[#jobKeys + 1] = ARGV[i] end',
      "for _, jobKey in ipairs(jobKeys) do redis.call('DEL', jobKey) end",
    ].join('\n')));
    expect(found).toEqual([
      "snippet.lua:2 HGET key `id` ← `redis.call('ZRANGE', KEYS[1], 0, -1)` (snippet.lua:1): a value read from Redis [in snippet]",
      "snippet.lua:3 GET key `'config'` ← `'config'` (snippet.lua:3): a string literal [in snippet]",
      'snippet.lua:6 DEL key `jobKey` ← `ARGV[i]` (snippet.lua:5): an argument (ARGV), not a declared key [in snippet]',
    ]);
  });

  it('flags keys gathered in a table through a helper and flushed with pairs, when one of them is built', async () => {
    const found = await check(snippet([
      'local batches = {}',
      'local function add(into, key) into[key] = true end',
      'add(batches, KEYS[1])',
      "add(batches, KEYS[1] .. ':counts')",
      "for key in pairs(batches) do redis.call('INCR', key) end",
    ].join('\n')));
    expect(found).toEqual(["snippet.lua:5 INCR key `key` ← `KEYS[1] .. ':counts'` (snippet.lua:4): a string concatenation [in snippet]"]);
  });

  it('flags a key after STREAMS, where Redis says the keys of XREADGROUP are', async () => {
    const found = await check(snippet("redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 10, 'STREAMS', ARGV[3], '>')"));
    expect(found).toEqual(["snippet.lua:1 XREADGROUP key `ARGV[3]` ← `ARGV[3]` (snippet.lua:1): an argument (ARGV), not a declared key [in snippet]"]);
  });

  it('flags a command Redis does not know, and ignores code in comments and strings', async () => {
    const found = await check(snippet("-- redis.call('DEL', ARGV[1])\nlocal text = \"redis.call('DEL', ARGV[1])\"\nredis.call('NOSUCHCOMMAND', KEYS[1])"));
    expect(found).toEqual(['snippet.lua:3 NOSUCHCOMMAND: Redis does not know this command [in snippet]']);
  });

  it('flags what would hide a key from the analysis: redis.call kept in a name, KEYS written to', async () => {
    expect(await check(snippet("local call = redis.call\ncall('DEL', ARGV[1])\nKEYS[1] = ARGV[2]"))).toEqual([
      'snippet.lua:1 redis.call is used as a value, so the calls made through it cannot be checked [in snippet]',
      'snippet.lua:3 KEYS is written to, so KEYS[…] may no longer be a declared key [in snippet]',
    ]);
  });

  it('passes KEYS[i] in a loop, a local from KEYS, and a parameter passed KEYS[2] at every call site', async () => {
    expect(await check(snippet([
      "for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end",
      'local stream = KEYS[1]',
      "redis.call('XADD', stream, '*', 'id', ARGV[1])",
      'local function bump(countsKey, field) redis.call("HINCRBY", countsKey, field, 1) end',
      "bump(KEYS[2], ARGV[2])",
      "bump(KEYS[2], 'total')",
      "redis.call('PUBLISH', ARGV[3], 'no key: a channel')",
      "local now = redis.call('TIME')",
    ].join('\n')))).toEqual([]);
  });

  it('passes keys carried in tables, returned by local functions, and flushed with pairs, when all come from KEYS', async () => {
    expect(await check(snippet([
      'local dead = {KEYS[3], ARGV[5]}',
      "local function moveToDead(target, jobKey) redis.call('XADD', target[1], '*', 'prefix', target[2]); redis.call('DEL', jobKey) end",
      'moveToDead(dead, KEYS[4])',
      "moveToDead({KEYS[5], ARGV[1]}, KEYS[6])",
      'local function jobKeysFrom(first) local keys = {} for i = first, #KEYS do keys[#keys + 1] = KEYS[i] end return keys end',
      "for _, jobKey in ipairs(jobKeysFrom(3)) do redis.call('HGET', jobKey, 'status') end",
      'local routing = {}',
      'local function setRouting(delayed) routing = {delayed = delayed, served = ARGV[1]} end',
      'setRouting(KEYS[2])',
      "redis.call('ZADD', routing.delayed, 1, ARGV[2])",
      'local batches = {}',
      'local function add(into, key) into[key] = true end',
      'add(batches, KEYS[1])',
      "for key in pairs(batches) do redis.call('INCR', key) end",
    ].join('\n')))).toEqual([]);
  });
});

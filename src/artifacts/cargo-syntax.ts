// The two small languages of a Cargo.toml that cargo rewrites before it publishes: version requirements
// (semver::VersionReq) and target platforms (cargo_platform::Platform, cfg expressions), parsed and shown
// as cargo shows them, since the registry stores what cargo would have sent.

/** A manifest problem; turned into an ActionError naming the file by `readCrate`. */
export class ManifestError extends Error {}

// ---- semver::VersionReq, parsed and displayed as the semver crate does (cargo sends its Display) ----

const NUMBER = '(?:0|[1-9][0-9]*)';
const IDENTIFIERS = '[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*';
const WILDCARD = '[*xX]';
/** One comparator: operator, major, optional minor/patch (or wildcards), pre-release and build after a patch. */
const COMPARATOR = new RegExp(
  `^(=|>=|>|<=|<|~|\\^)? *(${NUMBER})(?:\\.(${NUMBER}|${WILDCARD})(?:\\.(${NUMBER}|${WILDCARD})(?:-(${IDENTIFIERS}))?(\\+${IDENTIFIERS})?)?)? *$`,
);
const PRE_IDENTIFIER = `(?:${NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const SEMVER_VERSION = new RegExp(
  `^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-${PRE_IDENTIFIER}(?:\\.${PRE_IDENTIFIER})*)?(?:\\+${IDENTIFIERS})?$`,
);
const U64_MAX = 2n ** 64n - 1n;

export const isSemverVersion = (version: string): boolean => SEMVER_VERSION.test(version);

function displayComparator(text: string): string | undefined {
  const match = COMPARATOR.exec(text);
  if (!match) return undefined;
  const [, op, major = '', minor, patch, pre, build] = match;
  const isWild = (part: string | undefined) => part !== undefined && /^[*xX]$/.test(part);
  // semver refuses a number after a wildcard ("1.*.2"), a pre-release or build after a wildcard patch,
  // numbers beyond u64, and all-digit pre-release identifiers with leading zeros.
  if (isWild(minor) && patch !== undefined && !isWild(patch)) return undefined;
  if (isWild(patch) && (pre !== undefined || build !== undefined)) return undefined;
  if ([major, minor, patch].some((n) => n !== undefined && /^[0-9]+$/.test(n) && BigInt(n) > U64_MAX)) {
    return undefined;
  }
  if (pre?.split('.').some((id) => /^0[0-9]+$/.test(id))) return undefined;
  // Without an operator a wildcard makes the comparator `Op::Wildcard`, displayed as `1.*` / `1.2.*`.
  if (op === undefined && isWild(minor)) return `${major}.*`;
  if (op === undefined && isWild(patch)) return `${major}.${minor}.*`;
  const numbers = [major, minor, patch];
  const end = numbers.findIndex((n) => n === undefined || isWild(n));
  const shown = end === -1 ? numbers : numbers.slice(0, end);
  // The pre-release shows only after a patch; build metadata is dropped; no operator means caret.
  return `${op ?? '^'}${shown.join('.')}${shown.length === 3 && pre ? `-${pre}` : ''}`;
}

/** `semver::VersionReq::parse(req).to_string()`: "1.0" → "^1.0", ">= 1, <2" → ">=1, <2", "*" → "*". */
export function normalizeVersionReq(req: string): string | undefined {
  const text = req.replace(/^ +/, '');
  const wildcard = /^[*xX] *$/.exec(text);
  if (wildcard) return '*';
  const parts = text.split(',');
  if (parts.length > 32) return undefined;
  const shown: string[] = [];
  for (const part of parts) {
    const comparator = displayComparator(part.replace(/^ +/, ''));
    if (comparator === undefined) return undefined;
    shown.push(comparator);
  }
  return shown.join(', ');
}

// ---- cargo-platform: target keys are parsed and displayed, so `cfg(target_os="linux")` is respaced ----

type Token =
  | { kind: '(' | ')' | ',' | '=' }
  | { kind: 'ident'; raw: boolean; name: string }
  | { kind: 'string'; value: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const identStart = (c: string | undefined) => c !== undefined && /[A-Za-z_]/.test(c);
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === ' ') {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === '=') {
      tokens.push({ kind: c });
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new ManifestError('unterminated string in cfg expression');
      tokens.push({ kind: 'string', value: text.slice(i + 1, end) });
      i = end + 1;
    } else if (identStart(c)) {
      const raw = c === 'r' && text[i + 1] === '#';
      if (raw && !identStart(text[i + 2]))
        throw new ManifestError('invalid raw identifier in cfg expression');
      const start = raw ? i + 2 : i;
      let end = start + 1;
      while (end < text.length && /[A-Za-z0-9_]/.test(text[end] ?? '')) end++;
      tokens.push({ kind: 'ident', raw, name: text.slice(start, end) });
      i = end;
    } else {
      throw new ManifestError(`unexpected character \`${c}\` in cfg expression`);
    }
  }
  return tokens;
}

const MAX_CFG_DEPTH = 64;

/** CfgExpr's grammar and Display: `not(e)`, `all(a, b)`, `any(a, b)`, `name`, `key = "value"`. */
function displayCfg(text: string): string {
  const tokens = tokenize(text);
  let at = 0;
  const fail = (): never => {
    throw new ManifestError(`cannot parse cfg expression \`${text}\``);
  };
  const eat = (kind: Token['kind']) => {
    if (tokens[at]?.kind !== kind) fail();
    at++;
  };
  // Nesting is bounded so a hostile key cannot exhaust the stack.
  const expr = (depth = 0): string => {
    const token = tokens[at];
    if (token?.kind !== 'ident' || depth > MAX_CFG_DEPTH) return fail();
    // `all`, `any` and `not` are operators unless raw, and must be followed by a parenthesis.
    if (!token.raw && (token.name === 'all' || token.name === 'any')) {
      at++;
      eat('(');
      const items: string[] = [];
      while (tokens[at]?.kind !== ')') {
        items.push(expr(depth + 1));
        if (tokens[at]?.kind !== ',') break;
        at++;
      }
      eat(')');
      return `${token.name}(${items.join(', ')})`;
    }
    if (!token.raw && token.name === 'not') {
      at++;
      eat('(');
      const inner = expr(depth + 1);
      eat(')');
      return `not(${inner})`;
    }
    at++;
    const name = `${token.raw ? 'r#' : ''}${token.name}`;
    if (tokens[at]?.kind !== '=') return token.name === 'true' || token.name === 'false' ? token.name : name;
    at++;
    const value = tokens[at];
    if (value?.kind !== 'string') return fail();
    at++;
    return `${name} = "${value.value}"`;
  };
  const shown = expr();
  if (at !== tokens.length) fail();
  return shown;
}

/** `cargo_platform::Platform::from_str(key).to_string()`. */
export function normalizePlatform(key: string): string {
  if (key.startsWith('cfg(') && key.endsWith(')')) return `cfg(${displayCfg(key.slice(4, -1))})`;
  const bad = [...key].find((c) => !/[\p{L}\p{N}_.-]/u.test(c));
  if (bad !== undefined) throw new ManifestError(`target \`${key}\` is neither a target name nor cfg(...)`);
  return key;
}

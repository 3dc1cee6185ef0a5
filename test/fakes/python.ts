// Python as Warehouse and pypi-attestations see strings, names and versions: repr() for their messages, PEP 503
// names and PEP 440 versions as `packaging` reads them. Shared by the PyPI emulator and the PEP 740 verifier.

export const isControl = (c: string): boolean => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f;

function repr(s: string, bytes: boolean): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const named: Record<string, string> = {
    '\\': '\\\\',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    [quote]: `\\${quote}`,
  };
  const hex = (c: string) => isControl(c) || (bytes && c.charCodeAt(0) > 0x7e);
  const escaped = [...s].map(
    (c) => named[c] ?? (hex(c) ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c),
  );
  return (bytes ? 'b' : '') + quote + escaped.join('') + quote;
}

/** Python's repr() of a str, as Warehouse's f-strings print it. */
export const pyRepr = (s: string): string => repr(s, false);

/** Python's repr() of a bytes value. */
export const pyBytesRepr = (b: Buffer): string => repr(b.toString('latin1'), true);

/** PEP 503 normalization (packaging.utils.canonicalize_name). */
export const normalizeName = (name: string): string => name.replace(/[-_.]+/g, '-').toLowerCase();

// packaging.version.VERSION_PATTERN (PEP 440).
const VERSION_RE = new RegExp(
  String.raw`^\s*v?(?:(?:(?<epoch>[0-9]+)!)?(?<release>[0-9]+(?:\.[0-9]+)*)` +
    '(?<pre>[-_.]?(?<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?<pre_n>[0-9]+)?)?' +
    '(?<post>(?:-(?<post_n1>[0-9]+))|(?:[-_.]?(?<post_l>post|rev|r)[-_.]?(?<post_n2>[0-9]+)?))?' +
    String.raw`(?<dev>[-_.]?dev[-_.]?(?<dev_n>[0-9]+)?)?)(?:\+(?<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$`,
  'i',
);

/** A PEP 440 version: `text` is str(Version), `key` is equal for equal versions (canonicalize_version). */
export function parseVersion(v: string): { text: string; key: string; local: boolean } | undefined {
  const g = VERSION_RE.exec(v)?.groups;
  if (!g) return undefined;
  const num = (s: string | undefined) => String(Number(s ?? 0));
  const preLabel = g.pre_l?.toLowerCase() ?? '';
  const pre = g.pre
    ? `${{ alpha: 'a', beta: 'b', c: 'rc', pre: 'rc', preview: 'rc' }[preLabel] ?? preLabel}${num(g.pre_n)}`
    : '';
  const post = g.post ? `.post${num(g.post_n1 ?? g.post_n2)}` : '';
  const dev = g.dev ? `.dev${num(g.dev_n)}` : '';
  const local = g.local
    ? `+${g.local
        .toLowerCase()
        .split(/[-_.]/)
        .map((p) => (/^\d+$/.test(p) ? num(p) : p))
        .join('.')}`
    : '';
  const epoch = num(g.epoch) === '0' ? '' : `${num(g.epoch)}!`;
  const release = (g.release ?? '').split('.').map(num);
  const text = `${epoch}${release.join('.')}${pre}${post}${dev}${local}`;
  while (release.length > 1 && release.at(-1) === '0') release.pop();
  return { text, key: `${epoch}${release.join('.')}${pre}${post}${dev}${local}`, local: local !== '' };
}

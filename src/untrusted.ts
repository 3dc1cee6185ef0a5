import { scrub } from './secrets.ts';

/**
 * Text a registry wrote (a file name from a lookup, an upload's answer, an exchange's error, an excerpt of a
 * body) as the log shows it: secrets cut out first (a cut-off excerpt would otherwise keep half a token), then
 * on one line, runs of white space as one space, every other control character escaped, and the prefix of
 * GitHub's old `##[command]` syntax broken; cut to `maxChars` (Warehouse's attestation refusals run to a
 * thousand characters, and their end names the mismatch).
 */
export function untrusted(text: string, maxChars = 2_000): string {
  const line = scrub(text)
    .replace(/[\t\n\v\f\r\u0085\u2028\u2029 ]+/g, ' ')
    .trim()
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, escaped)
    .replace(/##\[/g, '#\\x23[');
  return line.length > maxChars ? `${line.slice(0, maxChars - 1)}…` : line;
}

const escaped = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/**
 * The last guard, applied by output.ts to every line it prints: a line the action writes never starts a
 * workflow command. GitHub's runner reads a line whose text (leading white space trimmed) starts with `::`,
 * or that holds `##[`, as a command; it splits lines at CR as well as LF. The action's own commands never pass
 * here (they come from @actions/core), so such a line can only carry text from outside.
 */
export function commandSafe(message: string): string {
  return message
    .split(/\r\n|\r|\n/)
    .map((line) => line.replace(/^(\s*)::/, '$1\\x3a:').replace(/##\[/g, '#\\x23['))
    .join('\n');
}

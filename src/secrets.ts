/**
 * Every secret the run holds (the JWTs, each token a registry minted, a password) and every form in which
 * it could be printed, so that `scrub` can cut them out of any text before it leaves the process. Registries
 * and proxies echo what they were sent, in their status lines and bodies: raw, as the Basic credential of
 * whatever user the client sent, base64 or base64url inside other text, percent- or JSON-escaped.
 */

/** A value shorter than this is no credential any registry or CI system issues; replacing it would wreck every line. */
const MIN_SECRET_CHARS = 4;
/** A derived form shorter than this is a few characters that turn up by chance in ordinary text. */
const MIN_FORM_CHARS = 8;
/** The user twine and PyPI's own guides send a token with in Basic credentials. */
const TOKEN_USER = '__token__';
const SHOWN = '***';

const secrets = new Set<string>();
/** Every form of every secret, longest first: a form that contains a shorter one is cut out whole. */
let forms: string[] = [];

const base64url = (bytes: Buffer): string => bytes.toString('base64url');

/**
 * The base64 characters that stand for `bytes` wherever they sit inside a longer text: encoded from each of
 * the three offsets a 3-byte group can start at, keeping whole groups only (the edges depend on the
 * neighbours). This finds the secret in `<any user>:<secret>` and in any other encoded wrapper.
 */
function embeddedBase64(bytes: Buffer): string[] {
  return [0, 1, 2].flatMap((shift) => {
    const whole = bytes.subarray(shift, shift + Math.floor((bytes.length - shift) / 3) * 3);
    return [whole.toString('base64'), base64url(whole)];
  });
}

/** Every printable form of one secret. */
export function formsOf(value: string): string[] {
  const bytes = Buffer.from(value);
  const basic = Buffer.from(`${TOKEN_USER}:${value}`);
  const percent = encodeURIComponent(value);
  const derived = [
    bytes.toString('base64'),
    base64url(bytes),
    basic.toString('base64'),
    base64url(basic),
    ...embeddedBase64(bytes),
    percent,
    percent.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    // RFC 3986 encoders (and Python's quote) escape these too.
    percent.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    JSON.stringify(value).slice(1, -1),
  ].filter((form) => form.length >= MIN_FORM_CHARS);
  return [...new Set([value, ...derived])];
}

/**
 * Registers a secret the instant it exists; returns its forms not known before (for the CI system's own
 * masking). A value too short to be a credential is ignored.
 */
export function addSecret(value: string): string[] {
  if (value.length < MIN_SECRET_CHARS || secrets.has(value)) return [];
  secrets.add(value);
  const known = new Set(forms);
  const added = formsOf(value).filter((form) => !known.has(form));
  forms = [...forms, ...added].sort((a, b) => b.length - a.length);
  return added;
}

/** The text with every form of every registered secret replaced by ***. */
export function scrub(text: string): string {
  let shown = text;
  for (const form of forms) if (shown.includes(form)) shown = shown.split(form).join(SHOWN);
  return shown;
}

/**
 * The Node versions the command runs on, as package.json's `engines` says (`^22.22.2 || ^24.15.0 ||
 * >=26.0.0`; a unit test keeps the two in step): older ones lack what the code uses (Map.groupBy, among others)
 * and would fail half-way with an obscure error.
 */
const LOWEST_PER_MAJOR: Record<number, [number, number]> = { 22: [22, 2], 24: [15, 0] };
const ANY_FROM_MAJOR = 26;

export const NODE_REQUIREMENT = 'Node 22.22.2 or a later 22.x, 24.15.0 or a later 24.x, or 26 and later';

export function supportsNode(version: string): boolean {
  const [major = 0, minor = 0, patch = 0] = version.replace(/^v/, '').split('.').map(Number);
  if (major >= ANY_FROM_MAJOR) return true;
  const lowest = LOWEST_PER_MAJOR[major];
  if (!lowest) return false;
  return minor > lowest[0] || (minor === lowest[0] && patch >= lowest[1]);
}

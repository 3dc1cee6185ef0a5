// BLAKE2b alone, as a module of its own: digest.ts loads it on first use, and a dynamic import of hash-wasm
// itself would bring every one of its algorithms (200 KB) into the bundle's chunk.
export { createBLAKE2b } from 'hash-wasm';

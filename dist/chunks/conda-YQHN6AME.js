import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a,b,c,d}from"./chunk-WOCW7DZO.js";import"./chunk-2N4I7X76.js";import"./chunk-I6GOIJHE.js";import"./chunk-67BG23Y2.js";export{c as bunzip2,a as condaFormat,d as readConda,b as zstdDecompressor};

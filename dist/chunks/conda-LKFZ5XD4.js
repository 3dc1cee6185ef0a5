import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a,b,c,d}from"./chunk-KKHHZYAZ.js";import"./chunk-T7SMTCDA.js";import"./chunk-I6GOIJHE.js";import"./chunk-67BG23Y2.js";export{c as bunzip2,a as condaFormat,d as readConda,b as zstdDecompressor};
